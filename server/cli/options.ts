// Every command-line option, declared once: name, argument, default, help, validation and the commands that take it.
// The help text and the README's CLI reference are generated from / checked against this table
// (test/unit/cli/options.test.ts). Options are validated before anything starts.

import { isIP } from 'node:net';
import { normalizeHost } from '../certs/hostnames.js';
import { parsePermit } from '../certs/name-constraints.js';
import { MAX_WS_MESSAGE_BYTES } from '../core/config.js';
import { parseCidr } from '../core/policy.js';

export type Command = 'start' | 'ca' | 'sessions' | 'export';

type Kind = 'string' | 'int' | 'bytes' | 'flag' | 'list';

export interface OptionSpec {
  name: string;
  kind: Kind;
  /** Placeholder in help, e.g. PORT. */
  arg?: string;
  default: string | number | boolean | string[] | null;
  help: string;
  commands: readonly Command[];
  /** Returns an error message for a bad value (after conversion), or null. */
  validate?: (value: never) => string | null;
  /** Short alias such as -o. */
  alias?: string;
  /** Help for one command where the option means something else there (the README table shows `help`). */
  helpIn?: Partial<Record<Command, string>>;
}

// 0 asks the system for any free port (the tests use it); the URL printed at start shows the port it got.
const port = (name: string) => (value: number) =>
  Number.isInteger(value) && value >= 0 && value <= 65535 ? null : `${name} must be 0–65535 (0 = any free port)`;
const positive = (name: string) => (value: number) => (value > 0 ? null : `${name} must be greater than 0`);
const everyItem = (check: (item: string) => string | null) => (values: string[]) => {
  for (const value of values) {
    const error = check(value);
    if (error) return error;
  }
  return null;
};
const hostPattern = (option: string) =>
  everyItem((value) => {
    const bare = value.replace(/^\*\./, '').replace(/^\./, '');
    return normalizeHost(bare).kind === 'invalid' ? `${option}: ${JSON.stringify(value)} is not a host name or IP` : null;
  });

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'listen-host', kind: 'string', arg: 'HOST', default: '127.0.0.1', commands: ['start'], help: 'Address the proxy binds. Anything but loopback exposes everyone\'s plaintext to this machine; clients on other machines may not reach this machine\'s own services through it, except names given with --resolve.', validate: ((v: string) => (isIP(v) || v === 'localhost' ? null : 'listen-host must be an IP address or localhost')) },
  { name: 'listen-port', kind: 'int', arg: 'PORT', default: 8080, commands: ['start'], help: 'Port of the proxy (point the browser\'s HTTP and HTTPS proxy here); 0 picks any free port.', validate: port('listen-port') },
  { name: 'ui-port', kind: 'int', arg: 'PORT', default: 8081, commands: ['start'], help: 'Port of the live view, which always binds 127.0.0.1; 0 picks any free port.', validate: port('ui-port') },
  { name: 'no-ui', kind: 'flag', default: false, commands: ['start'], help: 'Do not start the live view.' },
  { name: 'data-dir', kind: 'string', arg: 'DIR', default: './data', commands: ['start', 'sessions', 'export'], help: 'Where sessions, bodies and the live-view token are kept.' },
  { name: 'ca-dir', kind: 'string', arg: 'DIR', default: './ca', commands: ['start', 'ca'], help: 'Where the lab CA lives (created on first run).' },
  { name: 'session', kind: 'string', arg: 'NAME', default: null, commands: ['start', 'export'], help: 'start: continue the session with this id or name ("latest": the newest one), or start a new one with this name. export: a session id, name, or "latest".' },
  { name: 'upstream-ca', kind: 'list', arg: 'FILE', default: [], commands: ['start'], help: 'Also trust these PEM roots for origins (repeatable). NODE_EXTRA_CA_CERTS is honoured too.' },
  { name: 'upstream-insecure', kind: 'list', arg: 'HOST', default: [], commands: ['start'], help: 'Accept an untrusted origin certificate for HOST; the flow is flagged "the browser was not told" (repeatable).', validate: hostPattern('upstream-insecure') as never },
  { name: 'passthrough', kind: 'list', arg: 'HOST', default: [], commands: ['start'], help: 'Tunnel HOST without interception (repeatable). HOST, *.HOST (subdomains) or .HOST (both).', validate: hostPattern('passthrough') as never },
  { name: 'resolve', kind: 'list', arg: 'HOST:ADDR', default: [], commands: ['start'], help: 'Send connections for HOST to ADDR instead of asking DNS, like curl --resolve (repeatable).', validate: everyItem(validateResolve) as never },
  { name: 'allow', kind: 'list', arg: 'CIDR', default: [], commands: ['start'], help: 'Also accept proxy clients from CIDR (loopback is always allowed; repeatable).', validate: everyItem((v) => (parseCidr(v) ? null : `allow: ${JSON.stringify(v)} is not an IP or CIDR block`)) as never },
  { name: 'keylog', kind: 'string', arg: 'FILE', default: null, commands: ['start'], help: 'Append NSS key log lines for both legs to FILE, created 0600 (SSLKEYLOGFILE is honoured too).' },
  { name: 'body-cap', kind: 'bytes', arg: 'BYTES', default: 1024 * 1024, commands: ['start'], help: 'Bytes of each body kept for display and export; bodies always stream through whole.', validate: positive('body-cap') },
  { name: 'ws-cap', kind: 'bytes', arg: 'BYTES', default: 64 * 1024, commands: ['start'], help: 'Bytes of each WebSocket message kept (at most 64m, the largest message relayed).', validate: (value: number) => positive('ws-cap')(value) ?? (value <= MAX_WS_MESSAGE_BYTES ? null : 'ws-cap must be at most 64m: a WebSocket message over 64 MiB ends its connection, so a larger cap would never apply') },
  { name: 'tls-capture', kind: 'bytes', arg: 'BYTES', default: 256 * 1024, commands: ['start'], help: 'Raw TLS bytes kept per leg for the handshake ladder and pcapng export; later records are only counted.', validate: positive('tls-capture') },
  { name: 'max-header-size', kind: 'bytes', arg: 'BYTES', default: 32 * 1024, commands: ['start'], help: 'Largest request head accepted; larger gets 431. Counted as Node counts it: the target and the field names and values, not the separators (so a head of many short fields may be up to 4 times as large).', validate: positive('max-header-size') },
  { name: 'connect-timeout', kind: 'int', arg: 'MS', default: 10_000, commands: ['start'], help: 'One deadline for reaching an origin: the DNS lookup and the TCP connect together; past it the browser gets 504.', validate: positive('connect-timeout') },
  { name: 'handshake-timeout', kind: 'int', arg: 'MS', default: 10_000, commands: ['start'], help: 'TLS handshake on either leg.', validate: positive('handshake-timeout') },
  { name: 'idle-timeout', kind: 'int', arg: 'MS', default: 120_000, commands: ['start'], help: 'Connections with no traffic for this long are closed.', validate: positive('idle-timeout') },
  { name: 'no-origin-reuse', kind: 'flag', default: false, commands: ['start'], help: 'Open a new origin connection for each browser connection, so that each shows its own origin handshake. By default an idle one that an earlier browser connection left is reused.' },
  { name: 'headers-timeout', kind: 'int', arg: 'MS', default: 30_000, commands: ['start'], help: 'A request head must arrive within this.', validate: positive('headers-timeout') },
  { name: 'ca-permit', kind: 'list', arg: 'SUFFIX', default: [], commands: ['start', 'ca'], help: 'When creating the CA, restrict it to these DNS suffixes / IP CIDRs (name constraints), so a leaked lab CA cannot intercept the open web.', validate: everyItem(validatePermit) as never },
  { name: 'leaf-key', kind: 'string', arg: 'auto|rsa|ec', default: 'auto', commands: ['start'], help: 'Key of the minted certificates: auto gives EC P-256 to clients that accept it and RSA-2048 to the rest; rsa or ec gives that one to every client.', validate: ((v: string) => (v === 'auto' || v === 'rsa' || v === 'ec' ? null : 'leaf-key must be auto, rsa or ec')) },
  { name: 'cert-cache', kind: 'int', arg: 'N', default: 1000, commands: ['start'], help: 'Minted certificates kept ready (LRU).', validate: positive('cert-cache') },
  { name: 'flow-cap', kind: 'int', arg: 'N', default: 50_000, commands: ['start'], help: 'Flow summaries kept in memory per session; older ones stay on disk.', validate: positive('flow-cap') },
  { name: 'retain', kind: 'int', arg: 'N', default: null, commands: ['start', 'sessions'], help: 'Keep only the newest N sessions: older ones are deleted, except one being recorded.', validate: positive('retain') },
  { name: 'quiet', kind: 'flag', default: false, commands: ['start'], help: 'Do not print a line per flow.' },
  { name: 'format', kind: 'string', arg: 'FORMAT', default: null, commands: ['export', 'ca'], help: 'export: har, jsonl, keylog or pcapng. ca export: pem or der.', helpIn: { export: 'har, jsonl, keylog or pcapng.', ca: 'ca export only: pem (the default) or der.' } },
  { name: 'out', alias: '-o', kind: 'string', arg: 'FILE', default: null, commands: ['export', 'ca'], help: 'Write to FILE instead of standard output.', helpIn: { ca: 'ca export only: write to FILE instead of standard output.' } },
  { name: 'filter', kind: 'string', arg: 'EXPR', default: null, commands: ['export'], help: 'Export only flows matching EXPR (the live view\'s filter language, e.g. "~d example.com & ~m POST").' },
  { name: 'delete', kind: 'string', arg: 'ID', default: null, commands: ['sessions'], help: 'Delete the session ID.' },
  { name: 'help', alias: '-h', kind: 'flag', default: false, commands: ['start', 'ca', 'sessions', 'export'], help: 'Show help.' },
];

function validatePermit(value: string): string | null {
  const parsed = parsePermit([value]);
  return parsed.ok ? null : `${parsed.reason} (use DNS suffixes like lab.test, IPs or CIDRs like 10.0.0.0/8)`;
}

/** Splits a --resolve entry HOST:ADDR; HOST may be a bracketed IPv6 literal ([::1]:127.0.0.1), ADDR bracketed or not. */
export function splitResolveEntry(value: string): { host: string; addr: string } | null {
  const colon = value.startsWith('[') ? value.indexOf(']:') + 1 : value.indexOf(':');
  if (colon <= 0) return null;
  return { host: value.slice(0, colon), addr: value.slice(colon + 1).replace(/^\[|\]$/g, '') };
}

function validateResolve(value: string): string | null {
  const entry = splitResolveEntry(value);
  if (!entry) return `resolve: ${JSON.stringify(value)} must be HOST:ADDR`;
  if (normalizeHost(entry.host).kind === 'invalid') return `resolve: ${JSON.stringify(entry.host)} is not a host name or IP address`;
  if (!isIP(entry.addr)) return `resolve: ${JSON.stringify(entry.addr)} is not an IP address`;
  return null;
}

export type ParsedOptions = Record<string, string | number | boolean | string[] | null>;

export type ParseResult =
  | { ok: true; command: Command; sub: string[]; options: ParsedOptions }
  | { ok: false; error: string };

const COMMANDS: readonly Command[] = ['start', 'ca', 'sessions', 'export'];

/** Parses and validates argv (without node and script). Pure. */
export function parseArgs(argv: readonly string[]): ParseResult {
  const args = [...argv];
  let command: Command = 'start';
  if (args[0] && !args[0].startsWith('-')) {
    if (!COMMANDS.includes(args[0] as Command)) return { ok: false, error: `unknown command ${JSON.stringify(args[0])} (commands: ${COMMANDS.join(', ')})` };
    command = args.shift() as Command;
  }
  const options: ParsedOptions = {};
  for (const spec of OPTIONS) if (spec.commands.includes(command)) options[spec.name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  const sub: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-')) {
      sub.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = OPTIONS.find((o) => `--${o.name}` === key || o.alias === key);
    if (!spec) return { ok: false, error: `unknown option ${key} (see mitmlab ${command} --help)` };
    if (!spec.commands.includes(command)) return { ok: false, error: `--${spec.name} does not apply to "${command}"` };
    if (spec.kind === 'flag') {
      if (eq > 0) return { ok: false, error: `--${spec.name} takes no value` };
      options[spec.name] = true;
      continue;
    }
    const raw = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (raw === undefined) return { ok: false, error: `--${spec.name} needs a value (${spec.arg ?? 'VALUE'})` };
    // `--session --quiet` forgot the value: taking the next option as it would record a session named "--quiet".
    // A value that really starts with "--" can still be given as --name=VALUE.
    if (eq < 0 && raw.startsWith('--')) return { ok: false, error: `--${spec.name} needs a value (${spec.arg ?? 'VALUE'}), not the option ${raw}` };
    // `--data-dir=` (an unset shell variable) would otherwise mean the current folder and scatter files there.
    // An empty filter stays allowed: it matches every flow.
    if (raw.trim() === '' && spec.name !== 'filter') return { ok: false, error: `--${spec.name} needs a value (${spec.arg ?? 'VALUE'}), got an empty one` };
    const converted = convert(spec, raw);
    if (typeof converted === 'object' && converted !== null && 'error' in converted) return { ok: false, error: converted.error };
    if (spec.kind === 'list') (options[spec.name] as string[]).push(raw);
    else options[spec.name] = converted as string | number;
  }
  for (const spec of OPTIONS) {
    const value = options[spec.name];
    if (!spec.validate || value === null || value === undefined) continue;
    const error = (spec.validate as (v: unknown) => string | null)(value);
    if (error) return { ok: false, error };
  }
  if (command === 'start' && !options['no-ui'] && options['listen-port'] !== 0 && options['listen-port'] === options['ui-port']) {
    return { ok: false, error: `--listen-port and --ui-port are both ${options['listen-port']}: the proxy and the live view need a port each` };
  }
  return { ok: true, command, sub, options };
}

function convert(spec: OptionSpec, raw: string): string | number | { error: string } {
  switch (spec.kind) {
    case 'int': {
      if (!/^\d+$/.test(raw)) return { error: `${spec.name} must be a whole number, got ${JSON.stringify(raw)}` };
      return Number(raw);
    }
    case 'bytes': {
      const bytes = parseBytes(raw);
      return bytes === null ? { error: `${spec.name} must be a size like 1048576, 512k or 1m, got ${JSON.stringify(raw)}` } : bytes;
    }
    default:
      return raw;
  }
}

/** 1048576, 512k, 64KiB, 1m, 2MB → bytes (binary multiples). */
export function parseBytes(text: string): number | null {
  const match = /^(\d+)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!match) return null;
  const unit = (match[2] ?? '').toLowerCase()[0];
  const scale = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(match[1]) * scale;
}

/** The help text for a command, generated from the table. */
export function helpText(command: Command): string {
  const usage: Record<Command, string> = {
    start: 'mitmlab [start] [options]        run the proxy and the live view (the default command)',
    ca: 'mitmlab ca init|show|export|rotate [options]\n\n  init     create the lab CA if there is none (start does this too)\n  show     print its names, fingerprints, expiry and limits (the default)\n  export   write its certificate, to import into a browser or system store\n  rotate   replace it with a new one, keeping the old one in a dated subfolder',
    sessions: 'mitmlab sessions [options]        list (or delete) recorded sessions',
    export: 'mitmlab export [--session ID|NAME|latest] --format har|jsonl|keylog|pcapng [-o FILE] [--filter EXPR]',
  };
  const lines = [`usage: ${usage[command]}`, '', 'options:'];
  for (const spec of OPTIONS) {
    if (!spec.commands.includes(command)) continue;
    const flag = `${spec.alias ? `${spec.alias}, ` : ''}--${spec.name}${spec.arg ? ` ${spec.arg}` : ''}${spec.kind === 'list' ? '…' : ''}`;
    const def = formatDefault(spec);
    lines.push(`  ${flag.padEnd(34)} ${spec.helpIn?.[command] ?? spec.help}${def ? ` (default: ${def})` : ''}`);
  }
  if (command === 'start') lines.push('', 'other commands: ca, sessions, export (mitmlab COMMAND --help)');
  return lines.join('\n');
}

/** The default as shown in help and README, or '' when there is none worth showing. */
export function formatDefault(spec: OptionSpec): string {
  if (spec.default === null || spec.default === false || (Array.isArray(spec.default) && spec.default.length === 0)) return '';
  if (spec.kind === 'bytes' && typeof spec.default === 'number') return formatBytes(spec.default);
  return String(spec.default);
}

function formatBytes(n: number): string {
  if (n % 1024 ** 2 === 0) return `${n / 1024 ** 2}m`;
  if (n % 1024 === 0) return `${n / 1024}k`;
  return String(n);
}

/** The README's CLI reference table, generated from the table (README must contain it verbatim; see the test). */
export function referenceMarkdown(): string {
  const rows = ['| option | commands | default | what it does |', '| --- | --- | --- | --- |'];
  for (const spec of OPTIONS) {
    const flag = `\`${spec.alias ? `${spec.alias}, ` : ''}--${spec.name}${spec.arg ? ` ${spec.arg}` : ''}${spec.kind === 'list' ? '…' : ''}\``;
    const def = formatDefault(spec);
    // GFM splits table cells at every unescaped pipe, inside code spans too (`auto|rsa|ec`).
    const cell = (text: string): string => text.replace(/\|/g, '\\|');
    rows.push(`| ${cell(flag)} | ${spec.commands.join(', ')} | ${def ? cell(`\`${def}\``) : ''} | ${cell(spec.help)} |`);
  }
  return rows.join('\n');
}
