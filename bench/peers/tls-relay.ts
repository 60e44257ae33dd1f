// The opt-in reference peer `tls-relay` (bench/peers/tls-relay-server.mjs) in its own Node process: CONNECT, then
// native TLS on both legs and a byte pipe between them. It shows the floor of any TLS-intercepting process here.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopProcess, waitForOutput } from '../processes.js';
import { readLoopProbe, tailOutput, type PeerSetup, type RunningPeer } from './peer.js';

const server = fileURLToPath(new URL('./tls-relay-server.mjs', import.meta.url));
const probeModule = new URL('../probe/loop-delay.mjs', import.meta.url).href;

const LABELS = {
  'tls-relay': 'bare TLS relay (reference: native TLS both legs, no HTTP, no capture)',
  'http-relay': 'bare HTTP relay (reference: native TLS and node:http both legs, no capture)',
} as const;

/**
 * Starts a relay on port 0; it presents the origin's own leaf, so the client trusts the origin's root. `tls-relay`
 * pipes bytes; `http-relay` forwards each request with node:http.
 */
export async function startTlsRelay(setup: PeerSetup, kind: keyof typeof LABELS = 'tls-relay'): Promise<RunningPeer> {
  const probeFile = path.join(setup.dir, 'loop-probe.json');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BENCH_RELAY_CERT: setup.pki.certPath,
    BENCH_RELAY_KEY: setup.pki.keyPath,
    BENCH_RELAY_ROOT: setup.pki.rootPath,
    BENCH_RELAY_MODE: kind === 'http-relay' ? 'http' : 'bytes',
    ...(setup.probe ? { BENCH_LOOP_PROBE_OUT: probeFile } : {}),
  };
  delete env.SSLKEYLOGFILE;
  const child = spawnTracked(process.execPath, [...(setup.probe ? ['--import', probeModule] : []), server], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = tailOutput(child);
  const match = await waitForOutput(child, new RegExp(`${kind} listening on (\\d+)`), 60_000, kind);
  const seq = { value: 0 };
  return {
    name: kind,
    label: LABELS[kind],
    pid: child.pid ?? null,
    proxyPort: Number(match[1]),
    caPem: setup.pki.rootPem,
    loopDelay: () => (setup.probe ? readLoopProbe(child, probeFile, seq) : Promise.resolve(null)),
    output,
    stop: () => stopProcess(child),
  };
}
