// mitmlab as a user starts it: `npm start`'s `node <flags> bin/mitmlab.js start …` in its own process, capture on,
// default settings.

import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopProcess, waitForOutput } from '../processes.js';
import { readLoopProbe, tailOutput, type PeerSetup, type RunningPeer } from './peer.js';
import { NODE_FLAGS } from '../../bin/node-flags.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const probeModule = new URL('../probe/loop-delay.mjs', import.meta.url).href;

/** Starts mitmlab on port 0 with its data and CA under setup.dir; resolves once it prints its proxy address. */
export async function startMitmlab(setup: PeerSetup): Promise<RunningPeer> {
  const dataDir = path.join(setup.dir, 'data');
  const caDir = path.join(setup.dir, 'ca');
  const probeFile = path.join(setup.dir, 'loop-probe.json');
  if (setup.cpuProfileDir) await mkdir(setup.cpuProfileDir, { recursive: true });
  const nodeArgs = [
    // The V8 flags `npm start` and the `mitmlab` command give node, unless the run measures others (--node-args).
    ...(setup.nodeArgs ?? NODE_FLAGS),
    ...(setup.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${setup.cpuProfileDir}`] : []),
    ...(setup.probe ? ['--import', probeModule] : []),
  ];
  const args = [
    path.join(root, 'bin/mitmlab.js'), 'start', '--listen-port', '0', '--no-ui', '--quiet',
    '--data-dir', dataDir, '--ca-dir', caDir, '--upstream-ca', setup.pki.rootPath,
    ...setup.names.flatMap((name) => ['--resolve', `${name}:127.0.0.1`]),
    ...(setup.extraArgs ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, ...(setup.probe ? { BENCH_LOOP_PROBE_OUT: probeFile } : {}) };
  // The user's defaults: the built server, and no key log unless asked for.
  delete env.MITMLAB_FROM_SOURCE;
  delete env.SSLKEYLOGFILE;
  const child = spawnTracked(process.execPath, [...nodeArgs, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = tailOutput(child);
  const match = await waitForOutput(child, /proxy listening on http:\/\/127\.0\.0\.1:(\d+)/, 60_000, 'mitmlab');
  const caPem = await readFile(path.join(caDir, 'mitmlab-ca.pem'), 'utf8');
  const seq = { value: 0 };
  return {
    name: 'mitmlab',
    label: mitmlabLabel(setup),
    pid: child.pid ?? null,
    proxyPort: Number(match[1]),
    caPem,
    loopDelay: () => (setup.probe ? readLoopProbe(child, probeFile, seq) : Promise.resolve(null)),
    output,
    // A profiled process needs time to write its .cpuprofile after SIGTERM.
    stop: () => stopProcess(child, setup.cpuProfileDir ? 30_000 : 5000),
  };
}

/** The column title: "defaults" unless the run changed mitmlab's arguments or node's flags. */
function mitmlabLabel(setup: PeerSetup): string {
  const changed = [
    ...(setup.nodeArgs ? [`node ${setup.nodeArgs.length ? setup.nodeArgs.join(' ') : 'without flags'}`] : []),
    ...(setup.extraArgs?.length ? [setup.extraArgs.join(' ')] : []),
  ];
  return `mitmlab (capture on, ${changed.length ? changed.join(', ') : 'defaults'})`;
}
