// mitmlab as a separate process, started through the real `mitmlab` bin: for tests that measure the proxy's own
// memory, exercise signals, or check what the CLI prints.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NODE_FLAGS } from '../../bin/node-flags.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/mitmlab.js');

export interface CliProcess {
  child: ChildProcess;
  proxyPort: number;
  /** Everything printed so far. */
  output(): string;
  /** Resident set size of the process in bytes (from /proc). */
  rss(): number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs `mitmlab args…` from the TypeScript sources and waits for its whole start banner: "proxy listening on" comes
 * first, and the live view's line follows in a later write, so a caller reading output() right after "proxy
 * listening on" could miss it. The banner ends with the "browser:" line.
 */
export async function startCli(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CliProcess> {
  // With the flags the `mitmlab` command gives node (bin/node-flags.js).
  const child = spawn(process.execPath, [...NODE_FLAGS, BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, MITMLAB_FROM_SOURCE: '1', SSLKEYLOGFILE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proxyPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A start the test gives up on must not outlive it.
      child.kill('SIGKILL');
      reject(new Error(`mitmlab did not start:\n${text}`));
    }, options.timeoutMs ?? 30_000);
    const check = (): void => {
      const match = /proxy listening on http:\/\/(?:\[[^\]]+\]|[^:/]+):(\d+)/.exec(text);
      if (match && /^browser: /m.test(text)) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mitmlab exited with ${code}:\n${text}`));
    });
  });
  return {
    child,
    proxyPort,
    output: () => text,
    rss: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
