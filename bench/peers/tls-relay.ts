// The opt-in reference peer `tls-relay` (bench/peers/tls-relay-server.mjs) in its own Node process: CONNECT, then
// native TLS on both legs and a byte pipe between them. It shows the floor of any TLS-intercepting process here.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopProcess, waitForOutput } from '../processes.js';
import { readLoopProbe, tailOutput, type PeerSetup, type RunningPeer } from './peer.js';

const server = fileURLToPath(new URL('./tls-relay-server.mjs', import.meta.url));
const probeModule = new URL('../probe/loop-delay.mjs', import.meta.url).href;

/** Starts the relay on port 0; it presents the origin's own leaf, so the client trusts the origin's root. */
export async function startTlsRelay(setup: PeerSetup): Promise<RunningPeer> {
  const probeFile = path.join(setup.dir, 'loop-probe.json');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BENCH_RELAY_CERT: setup.pki.certPath,
    BENCH_RELAY_KEY: setup.pki.keyPath,
    BENCH_RELAY_ROOT: setup.pki.rootPath,
    ...(setup.probe ? { BENCH_LOOP_PROBE_OUT: probeFile } : {}),
  };
  delete env.SSLKEYLOGFILE;
  const child = spawnTracked(process.execPath, [...(setup.probe ? ['--import', probeModule] : []), server], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = tailOutput(child);
  const match = await waitForOutput(child, /tls-relay listening on (\d+)/, 60_000, 'tls-relay');
  const seq = { value: 0 };
  return {
    name: 'tls-relay',
    label: 'bare TLS relay (reference: native TLS both legs, no HTTP, no capture)',
    pid: child.pid ?? null,
    proxyPort: Number(match[1]),
    caPem: setup.pki.rootPem,
    loopDelay: () => (setup.probe ? readLoopProbe(child, probeFile, seq) : Promise.resolve(null)),
    output,
    stop: () => stopProcess(child),
  };
}
