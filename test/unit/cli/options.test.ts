import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { helpText, OPTIONS, parseArgs, parseBytes, referenceMarkdown, splitResolveEntry } from '../../../server/cli/options.js';

describe('parseArgs', () => {
  it('defaults to start with the documented defaults', () => {
    const parsed = parseArgs([]);
    expect(parsed.ok && parsed.command).toBe('start');
    expect(parsed.ok && parsed.options).toMatchObject({ 'listen-host': '127.0.0.1', 'listen-port': 8080, 'ui-port': 8081, 'data-dir': './data', 'ca-dir': './ca', 'body-cap': 1048576 });
  });

  it.each([
    [['--listen-port', '99999'], 'listen-port must be 0–65535 (0 = any free port)'],
    [['--ui-port', '65536'], 'ui-port must be 0–65535'],
    [['--listen-port', 'abc'], 'listen-port must be a whole number'],
    [['--body-cap', 'lots'], 'body-cap must be a size'],
    [['--ws-cap', '65m'], 'ws-cap must be at most 64m: a WebSocket message over 64 MiB ends its connection'],
    [['--nope'], 'unknown option --nope'],
    [['--listen-port'], '--listen-port needs a value'],
    [['--resolve', 'a.test'], 'must be HOST:ADDR'],
    [['--resolve', 'a.test:not-an-ip'], 'is not an IP address'],
    [['--resolve', 'a b:127.0.0.1'], '"a b" is not a host name or IP address'],
    [['--resolve', '[::1:127.0.0.1'], 'must be HOST:ADDR'],
    [['--allow', '10.0.0.0/99'], 'is not an IP or CIDR block'],
    [['--passthrough', '../../etc'], 'is not a host name'],
    [['--leaf-key', 'dsa'], 'leaf-key must be auto, rsa or ec'],
    [['--ca-permit', '10.0.0.0/33'], 'ca-permit: "10.0.0.0/33": the prefix length must be 0–32'],
    [['ca', 'init', '--ca-permit', 'lab.test', '--ca-permit', 'lab.test/8'], 'ca-permit: "lab.test/8": a prefix length needs an IP address'],
    [['ca', 'rotate', '--ca-permit', '../x'], 'use DNS suffixes like lab.test'],
    [['--listen-host', 'example.com'], 'listen-host must be an IP address'],
    [['frobnicate'], 'unknown command'],
    [['sessions', '--listen-port', '1'], 'does not apply to "sessions"'],
    [['--quiet=yes'], 'takes no value'],
  ])('%j → %s', (argv, message) => {
    const parsed = parseArgs(argv);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toContain(message);
  });

  it('--resolve takes a bracketed IPv6 literal as HOST, and a bracketed ADDR', () => {
    const parsed = parseArgs(['--resolve', '[::1]:127.0.0.1', '--resolve', 'a.test:[::1]']);
    expect(parsed.ok && parsed.options['resolve']).toEqual(['[::1]:127.0.0.1', 'a.test:[::1]']);
    expect(splitResolveEntry('[::1]:127.0.0.1')).toEqual({ host: '[::1]', addr: '127.0.0.1' });
    expect(splitResolveEntry('a.test:[::1]')).toEqual({ host: 'a.test', addr: '::1' });
  });

  it('collects repeatable options and accepts --name=value', () => {
    const parsed = parseArgs(['--passthrough', 'a.test', '--passthrough=*.b.test', '--body-cap=512k', '-h']);
    expect(parsed.ok && parsed.options['passthrough']).toEqual(['a.test', '*.b.test']);
    expect(parsed.ok && parsed.options['body-cap']).toBe(512 * 1024);
    expect(parsed.ok && parsed.options['help']).toBe(true);
  });

  it('accepts port 0 (any free port) and valid --ca-permit entries', () => {
    const parsed = parseArgs(['--listen-port', '0', '--ui-port', '0', '--ca-permit', '*.lab.test', '--ca-permit', '10.0.0.0/8', '--ca-permit', '::1']);
    expect(parsed.ok && [parsed.options['listen-port'], parsed.options['ui-port'], parsed.options['ca-permit']]).toEqual([0, 0, ['*.lab.test', '10.0.0.0/8', '::1']]);
  });

  it('parses commands with sub-actions and aliases', () => {
    const parsed = parseArgs(['ca', 'export', '--format', 'der', '-o', 'x.cer']);
    expect(parsed.ok && [parsed.command, parsed.sub, parsed.options['out']]).toEqual(['ca', ['export'], 'x.cer']);
  });

  it('parses byte sizes', () => {
    expect(parseBytes('1048576')).toBe(1048576);
    expect(parseBytes('64KiB')).toBe(65536);
    expect(parseBytes('2m')).toBe(2 * 1024 * 1024);
    expect(parseBytes('1.5m')).toBeNull();
  });
});

describe('help and README stay in sync with the option table', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

  it('help lists every option of the command', () => {
    const help = helpText('start');
    for (const spec of OPTIONS.filter((o) => o.commands.includes('start'))) expect(help).toContain(`--${spec.name}`);
  });

  it('each command\'s help speaks of that command: ca lists its actions and CA formats, export its own', () => {
    expect(helpText('ca')).toMatch(/^ {2}rotate {3}replace it/m);
    expect(helpText('ca')).toContain('pem (the default) or der');
    expect(helpText('ca')).not.toContain('pcapng');
    expect(helpText('export')).toContain('har, jsonl, keylog or pcapng');
    expect(helpText('export')).not.toContain('pem');
  });

  it('README holds the generated CLI reference verbatim (regenerate with npm run docs:cli)', () => {
    const start = readme.indexOf('<!-- cli-reference:start -->');
    const end = readme.indexOf('<!-- cli-reference:end -->');
    expect(start).toBeGreaterThan(0);
    expect(readme.slice(start + '<!-- cli-reference:start -->'.length, end).trim()).toBe(referenceMarkdown());
  });
});
