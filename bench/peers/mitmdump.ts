// mitmproxy's mitmdump (Debian package `mitmproxy`), quiet, trusting the origin's root for upstream verification.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, spawnTracked, stopProcess, waitForPort } from '../processes.js';
import { tailOutput, type PeerSetup, type RunningPeer } from './peer.js';

const addon = fileURLToPath(new URL('./mitmdump-resolve.py', import.meta.url));

/** mitmdump's version ("8.1.1"), or null when it is not on PATH. */
export function mitmdumpVersion(): string | null {
  try {
    const out = execFileSync('mitmdump', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
    return /Mitmproxy:\s*(\S+)/.exec(out)?.[1] ?? 'unknown';
  } catch {
    return null;
  }
}

/**
 * Starts mitmdump on a free port. By default it streams bodies over 1 MiB (stream_large_bodies=1m), which is how one
 * would run it for large downloads; with setup.buffering it keeps mitmproxy's default of holding each body whole.
 */
export async function startMitmdump(setup: PeerSetup, version: string): Promise<RunningPeer> {
  const confdir = path.join(setup.dir, 'conf');
  const port = await freePort();
  const args = [
    '-q', '--listen-host', '127.0.0.1', '--listen-port', String(port),
    '--set', `confdir=${confdir}`,
    '--set', `ssl_verify_upstream_trusted_ca=${setup.pki.rootPath}`,
    ...(setup.buffering ? [] : ['--set', 'stream_large_bodies=1m']),
    '-s', addon,
  ];
  const child = spawnTracked('mitmdump', args, { env: { ...process.env, BENCH_RESOLVE_SUFFIX: setup.suffix }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = tailOutput(child);
  await waitForPort(port, 60_000, child, 'mitmdump');
  const caPath = path.join(confdir, 'mitmproxy-ca-cert.pem');
  for (let i = 0; i < 100 && !existsSync(caPath); i++) await sleep(100);
  const caPem = await readFile(caPath, 'utf8');
  return {
    name: 'mitmdump',
    label: `mitmdump ${version} (${setup.buffering ? 'default: bodies buffered' : 'stream_large_bodies=1m'})`,
    pid: child.pid ?? null,
    proxyPort: port,
    caPem,
    loopDelay: () => Promise.resolve(null),
    output,
    stop: () => stopProcess(child),
  };
}
