// `npm run bench`: starts a loopback HTTPS origin and one load client, runs each scenario on direct, mitmlab,
// http-mitm-proxy and mitmdump (and the opt-in reference tls-relay), prints a table with ratios and writes the figures
// to <data-dir>/bench/<timestamp>.json.

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderProfile, summarizeProfile, type CpuProfile } from './cpu-profile.js';
import type { ClientReply, Job, JobResult } from './jobs.js';
import { helpText, parseBenchArgs, type BenchSettings, type ScenarioName } from './options.js';
import { createOriginPki, type OriginPki } from './pki.js';
import { startHttpMitmProxy } from './peers/http-mitm-proxy.js';
import { startMitmdump, mitmdumpVersion } from './peers/mitmdump.js';
import { startMitmlab } from './peers/mitmlab.js';
import { startTlsRelay } from './peers/tls-relay.js';
import type { PeerName, RunningPeer } from './peers/peer.js';
import { CpuMeter, killAll, ownPids, stopProcess, trackChild, type CpuShare } from './processes.js';
import { acceptance, ratioLegend, renderChecks, renderTable } from './report.js';
import type { BenchResults } from './results.js';
import { summarize } from './stats.js';
import { HOSTS_DOMAIN, NAME_SUFFIX, ORIGIN_HOST, runScenario, type BenchContext, type StartPeerOptions } from './scenarios.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Forks a TypeScript module of the bench in its own Node process (through tsx) and waits for its first message. */
async function forkTs<T>(module: string, env: NodeJS.ProcessEnv, what: string): Promise<{ child: ChildProcess; first: T }> {
  const child = fork(fileURLToPath(new URL(module, import.meta.url)), [], { cwd: root, env, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const first = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 30 s`)), 30_000);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as T);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready`));
    });
  });
  return { child, first };
}

/** The load client, one job at a time over IPC; `onMark` hears when a timed job's counted window opens and closes. */
function clientRunner(child: ChildProcess): (job: Job, onMark: (mark: 'start' | 'end') => void) => Promise<JobResult> {
  let next = 1;
  const waiting = new Map<number, { resolve: (r: JobResult) => void; reject: (e: Error) => void; onMark: (mark: 'start' | 'end') => void }>();
  child.on('message', (message: ClientReply) => {
    const w = waiting.get(message.id);
    if (!w) return;
    if ('mark' in message) return w.onMark(message.mark);
    waiting.delete(message.id);
    if ('error' in message) w.reject(new Error(message.error));
    else w.resolve(message.result);
  });
  child.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`load client exited (${code})`));
    waiting.clear();
  });
  return (job, onMark) =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject, onMark });
      child.send({ id, job });
    });
}

/** `npm run build:server`, so mitmlab runs from dist/ as an installed copy does. */
async function buildServer(): Promise<void> {
  log('building the server (npm run build:server)…');
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn('npm', ['run', '--silent', 'build:server'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', resolve);
    child.once('error', () => resolve(-1));
  });
  // tsc still writes dist/ when it reports type errors; run what it built, but say so.
  if (code !== 0) log(`warning: build:server exited with ${code}; using whatever dist/ it produced`);
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

async function collectProfile(profileDir: string, outDir: string, stamp: string, scenario: ScenarioName, results: BenchResults): Promise<void> {
  const files = existsSync(profileDir) ? (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile')) : [];
  for (const file of files) {
    const target = path.join(outDir, `${stamp}-mitmlab-${scenario}.cpuprofile`);
    await rename(path.join(profileDir, file), target);
    const summary = summarizeProfile(JSON.parse(await readFile(target, 'utf8')) as CpuProfile);
    (results.profiles ??= {})[scenario] = { file: path.relative(root, target), ...summary };
    log(`\nCPU profile of mitmlab during ${scenario} (${path.relative(process.cwd(), target)}; open it in Chrome DevTools → Performance, or speedscope, for a flame graph):\n${renderProfile(summary)}\n`);
  }
  if (files.length === 0) log(`[${scenario}] no CPU profile was written (did mitmlab exit cleanly on SIGTERM?)`);
}

/** Runs the bench; resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseBenchArgs(argv);
  if (!parsed.ok) {
    log(`bench: ${parsed.error}`);
    return 2;
  }
  if ('help' in parsed) {
    console.log(helpText());
    return 0;
  }
  const settings: BenchSettings = parsed.settings;
  const peers = [...settings.peers];
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.resolve(settings.dataDir, 'bench');
  await mkdir(outDir, { recursive: true });

  let mitmdump: string | null = null;
  if (peers.includes('mitmdump')) {
    mitmdump = mitmdumpVersion();
    if (!mitmdump) {
      log('mitmdump is not on PATH (Debian package mitmproxy): skipping its column');
      peers.splice(peers.indexOf('mitmdump'), 1);
    }
  }
  if (peers.includes('mitmlab')) {
    if (settings.build) await buildServer();
    if (!existsSync(path.join(root, 'dist/server/cli/main.js'))) {
      log('dist/server/cli/main.js is missing (npm run build:server failed?): skipping mitmlab');
      peers.splice(peers.indexOf('mitmlab'), 1);
    }
  }

  const work = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-bench-'));
  const children: ChildProcess[] = [];
  const onSignal = (): void => {
    killAll();
    for (const child of children) child.kill('SIGKILL');
    void rm(work, { recursive: true, force: true }).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`bench: ${settings.scenarios.join(', ')} on ${peers.join(', ')}; ${settings.runs} run(s) of ${settings.durationMs / 1000} s per timed scenario${settings.quick ? ' (quick)' : ''}`);
    const pki: OriginPki = await createOriginPki(work, [ORIGIN_HOST, `*.${HOSTS_DOMAIN}`]);
    const origin = await forkTs<{ port: number }>('./origin-server.ts', { ...process.env, BENCH_ORIGIN_CERT: pki.certPath, BENCH_ORIGIN_KEY: pki.keyPath }, 'origin');
    children.push(origin.child);
    trackChild(origin.child);
    const client = await forkTs<unknown>('./load-client.ts', process.env, 'load client');
    children.push(client.child);
    trackChild(client.child);
    const sendJob = clientRunner(client.child);
    const labels: Partial<Record<PeerName, string>> = {};
    const profileDir = path.join(work, 'profiles');
    const results: BenchResults = { scenarios: {} };

    const startPeer = async (name: PeerName, options: StartPeerOptions): Promise<RunningPeer> => {
      const setup = {
        dir: path.join(work, name),
        pki,
        names: options.names,
        suffix: NAME_SUFFIX,
        probe: options.probe ?? false,
        ...(settings.profile && name === 'mitmlab' ? { cpuProfileDir: profileDir } : {}),
        ...(name === 'mitmlab' && settings.mitmlabArgs.length ? { extraArgs: settings.mitmlabArgs } : {}),
        ...(name === 'mitmlab' && settings.nodeArgs ? { nodeArgs: settings.nodeArgs } : {}),
        ...(options.buffering ? { buffering: true } : {}),
      };
      await mkdir(setup.dir, { recursive: true });
      let peer: RunningPeer;
      switch (name) {
        case 'direct':
          peer = { name, label: 'direct', pid: null, proxyPort: null, caPem: pki.rootPem, loopDelay: async () => null, output: () => '', stop: async () => {} };
          break;
        case 'mitmlab':
          peer = await startMitmlab(setup);
          break;
        case 'http-mitm-proxy':
          peer = await startHttpMitmProxy(setup);
          break;
        case 'mitmdump':
          peer = await startMitmdump(setup, mitmdump ?? 'unknown');
          break;
        case 'tls-relay':
        case 'http-relay':
          peer = await startTlsRelay(setup, name);
          break;
      }
      if (!options.buffering) labels[name] ??= peer.label;
      return peer;
    };

    const ctx: BenchContext = {
      settings,
      peers,
      originPort: origin.first.port,
      originRootPem: pki.rootPem,
      // Every job also reports how much CPU the rest of the machine used meanwhile: on a shared 2-core machine that
      // is the noise the ratios have to see through.
      // For timed jobs the meter covers exactly the counted window, so CPU per request divides like with like.
      runJob: async (job, peerPid) => {
        let meter = new CpuMeter(ownPids(), peerPid);
        let share: CpuShare | null = null;
        const result = await sendJob(job, (mark) => {
          if (mark === 'start') meter = new CpuMeter(ownPids(), peerPid);
          else share = meter.stop();
        });
        return { ...result, cpu: share ?? meter.stop() };
      },
      startPeer,
      afterStop: async (scenario, peer) => {
        if (settings.profile && peer.name === 'mitmlab') await collectProfile(profileDir, outDir, stamp, scenario, results);
      },
      log,
    };
    const started = Date.now();
    for (const scenario of settings.scenarios) {
      const t = Date.now();
      results.scenarios[scenario] = await runScenario(ctx, scenario, results);
      log(`[${scenario}] done in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }

    const checks = peers.includes('mitmlab') ? acceptance(results, { ...settings, peers }) : [];
    const report = {
      startedAt: stamp,
      seconds: (Date.now() - started) / 1000,
      machine: machine(),
      settings: { ...settings, peers },
      peers: labels,
      method: {
        runs: 'timed scenarios: median of the runs with min–max; runs interleaved across peers in rotating order',
        client: 'one Node process, raw HTTP/1.1 over TLS (CONNECT through the proxies), no TLS session reuse',
        names: `origin names under ${NAME_SUFFIX} go to 127.0.0.1: mitmlab --resolve, a dns.lookup override in http-mitm-proxy's process, a server_connect addon in mitmdump; tls-relay and http-relay connect every name to 127.0.0.1`,
        rss: 'VmRSS of the proxy process from /proc/<pid>/status, sampled every 50–100 ms',
      },
      results,
      acceptance: checks,
    };
    const outFile = path.join(outDir, `${stamp}.json`);
    await writeFile(outFile, JSON.stringify(report, null, 2) + '\n');

    const m = report.machine as { cpu: string; cores: number; memoryGiB: number; os: string };
    console.log(`\n## mitmlab bench, ${stamp}\n`);
    console.log(`${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}, Node ${process.version}. Timed scenarios: median of ${settings.runs} run(s) of ${settings.durationMs / 1000} s (min–max in brackets); memory: worst run. ${ratioLegend(peers)}\n`);
    console.log(renderTable(results, { ...settings, peers }, labels));
    const foreign = Object.values(results.scenarios).flatMap((byPeer) => Object.values(byPeer ?? {}).flatMap((r) => (r?.runs ?? []).map((run) => run['foreignCores'] ?? Number.NaN)));
    const load = summarize(foreign);
    if (load) console.log(`\nOther processes on the machine used ${load.median.toFixed(2)} cores (median; up to ${load.max.toFixed(2)}) of the ${os.cpus().length} during the measurements${load.median > 0.2 ? ': the absolute figures are noisy, the run-by-run ratios less so' : ''}.`);
    if (results.bufferedDownload) {
      const b = results.bufferedDownload;
      const delivered = `${(b.bytes / 2 ** 20).toFixed(0)} MiB of the body reached the client in ${b.seconds.toFixed(1)} s`;
      console.log(`\n${b.label}: ${b.complete ? `${b.mbPerSec.toFixed(1)} MB/s` : `cut off after ${b.seconds.toFixed(0)} s; ${delivered}`}${b.bytes === 0 && !b.complete ? ' (it holds the whole body before sending any)' : ''}; its RSS grew ${b.rssGrowthMiB.toFixed(0)} MiB meanwhile.`);
    }
    const notes = Object.entries(results.scenarios).flatMap(([scenario, byPeer]) =>
      Object.entries(byPeer ?? {}).flatMap(([peer, r]) => (r?.notes ?? []).map((n) => `- ${scenario} / ${peer}: ${n}`)),
    );
    if (notes.length) console.log(`\nnotes:\n${notes.slice(0, 40).join('\n')}${notes.length > 40 ? `\n- … ${notes.length - 40} more in the JSON` : ''}`);
    if (checks.length) console.log(`\nacceptance (issue 6):\n${renderChecks(checks)}`);
    console.log(`\nfigures: ${path.relative(process.cwd(), outFile)}`);

    await stopProcess(client.child);
    await stopProcess(origin.child);
    return 0;
  } finally {
    killAll();
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(work, { recursive: true, force: true });
  }
}
