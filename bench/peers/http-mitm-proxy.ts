// http-mitm-proxy 1.1.0, bare, in its own Node process (bench/peers/http-mitm-proxy-server.mjs).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopProcess, waitForOutput } from '../processes.js';
import { readLoopProbe, tailOutput, type PeerSetup, type RunningPeer } from './peer.js';

const server = fileURLToPath(new URL('./http-mitm-proxy-server.mjs', import.meta.url));
const probeModule = new URL('../probe/loop-delay.mjs', import.meta.url).href;

/** Starts http-mitm-proxy on port 0 with its CA dir under setup.dir. */
export async function startHttpMitmProxy(setup: PeerSetup): Promise<RunningPeer> {
  const caDir = path.join(setup.dir, 'ca');
  const probeFile = path.join(setup.dir, 'loop-probe.json');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BENCH_CA_DIR: caDir,
    BENCH_RESOLVE_SUFFIX: setup.suffix,
    NODE_EXTRA_CA_CERTS: setup.pki.rootPath,
    ...(setup.probe ? { BENCH_LOOP_PROBE_OUT: probeFile } : {}),
  };
  delete env.SSLKEYLOGFILE;
  const child = spawnTracked(process.execPath, [...(setup.probe ? ['--import', probeModule] : []), server], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = tailOutput(child);
  const match = await waitForOutput(child, /http-mitm-proxy listening on (\d+)/, 60_000, 'http-mitm-proxy');
  const caPem = await readFile(path.join(caDir, 'certs', 'ca.pem'), 'utf8');
  const seq = { value: 0 };
  return {
    name: 'http-mitm-proxy',
    label: 'http-mitm-proxy 1.1.0 (bare, keepAlive)',
    pid: child.pid ?? null,
    proxyPort: Number(match[1]),
    caPem,
    loopDelay: () => (setup.probe ? readLoopProbe(child, probeFile, seq) : Promise.resolve(null)),
    output,
    stop: () => stopProcess(child),
  };
}
