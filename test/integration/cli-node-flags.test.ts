// The V8 flags of bin/node-flags.js reach node on every documented way of starting mitmlab: the `mitmlab` command's
// first line (run here through the kernel, as a user's shell runs it), `npm start`, and the README's recipe for scripts.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../bin/node-flags.js';
import { BIN } from '../helpers/cli-process.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FLAGS = NODE_FLAGS.join(' ');

describe('node flags', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = '';
  });

  it('are written the same in the command, the start script and the README', async () => {
    expect(NODE_FLAGS.length).toBeGreaterThan(0);
    const firstLine = (await readFile(BIN, 'utf8')).split('\n')[0];
    expect(firstLine).toBe(`#!/usr/bin/env -S node ${FLAGS}`);
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${FLAGS} bin/mitmlab.js start`);
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`node ${FLAGS} bin/mitmlab.js start`);
  });

  it('reach the process the `mitmlab` command starts', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-flags-'));
    // Executed as a file: the kernel reads the first line, and `env -S` hands node the flags.
    const child = spawn(BIN, ['start', '--listen-port', '0', '--no-ui', '--quiet', '--data-dir', path.join(dir, 'data'), '--ca-dir', path.join(dir, 'ca')], {
      env: { ...process.env, MITMLAB_FROM_SOURCE: '1', SSLKEYLOGFILE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let text = '';
      child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`mitmlab did not start:\n${text}`)), 30_000);
        child.stdout!.on('data', (c: Buffer) => {
          text += c.toString();
          if (/proxy listening on/.test(text)) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`mitmlab exited with ${code}:\n${text}`)));
      });
      // env replaced itself with node, so the child's own command line is node's.
      const argv = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
      expect(path.basename(argv[0]!)).toBe('node');
      expect(argv.slice(1, 1 + NODE_FLAGS.length)).toEqual([...NODE_FLAGS]);
      expect(argv[1 + NODE_FLAGS.length]).toBe(BIN);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
