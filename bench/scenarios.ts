// The six scenarios of issue 6, each run on every peer with the same load client. Timed scenarios interleave their
// runs across peers (run 1 on every peer, then run 2…), so a noisy moment on the machine hits everyone alike.

import type { Job, JobResult, Target } from './jobs.js';
import type { BenchSettings, ScenarioName } from './options.js';
import type { PeerName, RunningPeer } from './peers/peer.js';
import { readRss, RssSampler, type CpuShare } from './processes.js';
import { MIB, type BenchResults, type PeerResult, type RunFigures, type ScenarioResults } from './results.js';
import { percentile } from './stats.js';

/** The name every scenario but firstcontact talks to. Under .test (RFC 6761): it can never leave the machine. */
export const ORIGIN_HOST = 'origin.bench.test';
/** New hosts for firstcontact are <run>-<i>.hosts.bench.test, all covered by the origin's *.hosts.bench.test. */
export const HOSTS_DOMAIN = 'hosts.bench.test';
export const NAME_SUFFIX = '.bench.test';

/** The new host names of one firstcontact run. */
export function newHostNames(run: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `r${run}-h${i}.${HOSTS_DOMAIN}`);
}

export interface StartPeerOptions {
  names: string[];
  probe?: boolean;
  buffering?: boolean;
}

/** What a scenario needs from the orchestrator. */
export interface BenchContext {
  settings: BenchSettings;
  peers: PeerName[];
  originPort: number;
  originRootPem: string;
  /** Runs a job on the load client; `cpu` says how busy the machine and the peer (pid) were meanwhile. */
  runJob(job: Job, peerPid: number | null): Promise<JobResult & { cpu: CpuShare }>;
  startPeer(name: PeerName, options: StartPeerOptions): Promise<RunningPeer>;
  /** Called after a scenario stopped its peers (the CPU profile is written at exit). */
  afterStop(scenario: ScenarioName, peer: RunningPeer): Promise<void>;
  log(line: string): void;
}

function target(ctx: BenchContext, peer: RunningPeer): Target {
  return { proxyPort: peer.proxyPort, originPort: ctx.originPort, caPem: peer.caPem };
}

const fmt = (n: number | null | undefined, digits = 0): string => n == null || Number.isNaN(n) ? "?" : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** ", other load 0.4 cores": what else ran on the machine during a measurement. */
function noise(cpu: CpuShare): string {
  return `, other load ${fmt(cpu.foreignCores, 2)} cores`;
}

/** Starts the scenario's peers, hands them to `body`, and always stops them. Peers that fail to start get a note. */
async function withPeers(
  ctx: BenchContext,
  scenario: ScenarioName,
  results: ScenarioResults,
  options: StartPeerOptions,
  body: (peers: RunningPeer[]) => Promise<void>,
): Promise<void> {
  const running: RunningPeer[] = [];
  try {
    for (const name of ctx.peers) {
      try {
        running.push(await ctx.startPeer(name, options));
      } catch (error) {
        const message = `could not start: ${(error as Error).message}`;
        results[name] = { label: name, runs: [], notes: [message] };
        ctx.log(`[${scenario}] ${name} ${message}`);
      }
    }
    for (const peer of running) results[peer.name] = { label: peer.label, runs: [], notes: [] };
    await body(running);
  } finally {
    for (const peer of running) {
      await peer.stop();
      await ctx.afterStop(scenario, peer);
    }
  }
}

/**
 * Has each peer serve a few requests for ORIGIN_HOST before anything is measured, so one-off costs (minting the
 * host's certificate, http-mitm-proxy starting its per-host server) stay out of the timed runs: those are what
 * firstcontact measures.
 */
async function prime(ctx: BenchContext, peers: readonly RunningPeer[], results: ScenarioResults): Promise<void> {
  for (const peer of peers) {
    try {
      const r = await ctx.runJob({ kind: 'flows', target: target(ctx, peer), host: ORIGIN_HOST, path: '/1k', connections: 1, count: 3, timeoutMs: 60_000 }, peer.pid);
      if (r.kind === 'flows' && !r.complete) results[peer.name]?.notes.push(`warm-up: ${r.errors} errors (${r.firstError ?? '?'})`);
    } catch (error) {
      results[peer.name]?.notes.push(`warm-up failed: ${(error as Error).message}`);
    }
  }
}

/** Run r's order: rotated, so no peer always goes first (or always runs right after the slowest). */
function rotated<T>(items: readonly T[], run: number): T[] {
  const k = items.length === 0 ? 0 : run % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function note(result: PeerResult, run: number, what: string): void {
  result.notes.push(`run ${run + 1}: ${what}`);
}

/** Runs the timed, rate-measuring scenarios (keepalive, newconn, websocket). */
async function rateScenario(ctx: BenchContext, scenario: 'keepalive' | 'newconn' | 'websocket', key: 'rps' | 'cps' | 'mps', unit: string): Promise<ScenarioResults> {
  const s = ctx.settings;
  const results: ScenarioResults = {};
  await withPeers(ctx, scenario, results, { names: [ORIGIN_HOST] }, async (peers) => {
    await prime(ctx, peers, results);
    for (let run = 0; run < s.runs; run++) {
      for (const peer of rotated(peers, run)) {
        const result = results[peer.name]!;
        const timed = { warmupMs: s.warmupMs, durationMs: s.durationMs };
        const job: Job =
          scenario === 'keepalive' ? { kind: 'keepalive', target: target(ctx, peer), host: ORIGIN_HOST, path: '/1k', connections: s.keepAliveConnections, ...timed }
          : scenario === 'newconn' ? { kind: 'newconn', target: target(ctx, peer), host: ORIGIN_HOST, path: '/1k', concurrency: s.newConnConcurrency, ...timed }
          : { kind: 'websocket', target: target(ctx, peer), host: ORIGIN_HOST, connections: s.wsConnections, size: s.wsMessageBytes, ...timed };
        try {
          const r = await ctx.runJob(job, peer.pid);
          if (r.kind !== 'rate') throw new Error(`unexpected result ${r.kind}`);
          // The peer's CPU time per unit over the same window: steadier than the rate when other processes compete.
          const peerCpu = r.cpu.peerCpuSeconds;
          const cpu = peerCpu !== null && r.count > 0 ? (peerCpu * 1e6) / r.count : undefined;
          const cpuFigure = scenario === 'newconn' ? { cpuMs: cpu === undefined ? undefined : cpu / 1000 } : { cpuUs: cpu };
          const figures: RunFigures = { [key]: r.count > 0 ? r.rate : Number.NaN, ...cpuFigure, p50Ms: r.p50Ms, p99Ms: r.p99Ms, maxMs: r.maxMs, errors: r.errors, reconnects: r.reconnects, foreignCores: r.cpu.foreignCores };
          result.runs.push(figures);
          if (r.errors > 0) note(result, run, `${r.errors} errors (first: ${r.firstError ?? '?'})`);
          ctx.log(`[${scenario}] run ${run + 1}/${s.runs} ${peer.name}: ${fmt(r.rate)} ${unit}, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms${cpu !== undefined ? `, proxy CPU ${fmt(cpu)} µs each` : ''}${noise(r.cpu)}${r.reconnects ? `, ${r.reconnects} reconnects` : ''}${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}`);
        } catch (error) {
          result.runs.push({ [key]: Number.NaN });
          note(result, run, (error as Error).message);
          ctx.log(`[${scenario}] run ${run + 1}/${s.runs} ${peer.name} failed: ${(error as Error).message}\n${peer.output().slice(-2000)}`);
        }
      }
    }
  });
  return results;
}

async function downloadScenario(ctx: BenchContext, extras: BenchResults): Promise<ScenarioResults> {
  const s = ctx.settings;
  const results: ScenarioResults = {};
  const once = async (peer: RunningPeer, timeoutMs: number) => {
    const sampler = peer.pid !== null ? new RssSampler(peer.pid) : null;
    try {
      const r = await ctx.runJob({ kind: 'download', target: target(ctx, peer), host: ORIGIN_HOST, bytes: s.downloadBytes, timeoutMs }, peer.pid);
      if (r.kind !== 'download') throw new Error(`unexpected result ${r.kind}`);
      return { r, rss: sampler?.stop() ?? null, cpu: r.cpu };
    } finally {
      sampler?.stop();
    }
  };
  await withPeers(ctx, 'download', results, { names: [ORIGIN_HOST] }, async (peers) => {
    await prime(ctx, peers, results);
    for (let run = 0; run < s.runs; run++) {
      for (const peer of rotated(peers, run)) {
        const result = results[peer.name]!;
        try {
          const { r, rss, cpu } = await once(peer, s.downloadTimeoutMs);
          const growth = rss ? (rss.peak - rss.baseline) / MIB : undefined;
          const cpuSecPerGB = cpu.peerCpuSeconds !== null && r.bytes > 0 ? cpu.peerCpuSeconds / (r.bytes / 1e9) : undefined;
          result.runs.push({ mbps: r.complete ? r.mbPerSec : Number.NaN, rssGrowthMiB: growth, cpuSecPerGB, seconds: r.seconds, rssBaselineMiB: rss ? rss.baseline / MIB : undefined, foreignCores: cpu.foreignCores });
          if (!r.complete) note(result, run, `incomplete: ${r.bytes} of ${s.downloadBytes} bytes (${r.error ?? ''})`);
          ctx.log(`[download] run ${run + 1}/${s.runs} ${peer.name}: ${fmt(r.mbPerSec)} MB/s${r.complete ? '' : ' (incomplete)'}${growth !== undefined ? `, RSS +${fmt(growth, 1)} MiB` : ''}${cpuSecPerGB !== undefined ? `, proxy CPU ${fmt(cpuSecPerGB, 2)} s/GB` : ''}${noise(cpu)}`);
        } catch (error) {
          result.runs.push({ mbps: Number.NaN });
          note(result, run, (error as Error).message);
          ctx.log(`[download] run ${run + 1}/${s.runs} ${peer.name} failed: ${(error as Error).message}`);
        }
      }
    }
  });
  // mitmproxy's default holds a whole body before passing it on; record it once, cut off at a deadline.
  if (ctx.peers.includes('mitmdump')) {
    let peer: RunningPeer | null = null;
    try {
      peer = await ctx.startPeer('mitmdump', { names: [ORIGIN_HOST], buffering: true });
      await prime(ctx, [peer], {});
      const { r, rss } = await once(peer, s.bufferedCapMs);
      extras.bufferedDownload = { label: peer.label, bytes: r.bytes, seconds: r.seconds, mbPerSec: r.mbPerSec, complete: r.complete, rssGrowthMiB: rss ? (rss.peak - rss.baseline) / MIB : Number.NaN };
      ctx.log(`[download] ${peer.label}: ${fmt(r.mbPerSec, 1)} MB/s, ${fmt(r.bytes / MIB, 1)} MiB in ${fmt(r.seconds, 1)} s${r.complete ? '' : ' (cut off)'}, RSS +${fmt(extras.bufferedDownload.rssGrowthMiB, 1)} MiB`);
    } catch (error) {
      ctx.log(`[download] mitmdump (buffering) failed: ${(error as Error).message}`);
    } finally {
      await peer?.stop();
    }
  }
  return results;
}

async function firstContactScenario(ctx: BenchContext): Promise<ScenarioResults> {
  const s = ctx.settings;
  const results: ScenarioResults = {};
  const allNames = [ORIGIN_HOST, ...Array.from({ length: s.runs }, (_, run) => newHostNames(run, s.newHosts)).flat()];
  await withPeers(ctx, 'firstcontact', results, { names: allNames, probe: true }, async (peers) => {
    for (let run = 0; run < s.runs; run++) {
      for (const peer of rotated(peers, run)) {
        const result = results[peer.name]!;
        try {
          await peer.loopDelay(); // starts the probe's window afresh
          const r = await ctx.runJob({ kind: 'firstcontact', target: target(ctx, peer), warmHost: ORIGIN_HOST, hosts: newHostNames(run, s.newHosts), path: '/1k', timeoutMs: 300_000 }, peer.pid);
          const loop = await peer.loopDelay();
          if (r.kind !== 'firstcontact') throw new Error(`unexpected result ${r.kind}`);
          const extra = r.samples.map((x) => x.firstMs - x.secondMs);
          const firsts = r.samples.map((x) => x.firstMs);
          const figures: RunFigures = {
            extraMs: extra.length ? percentile(extra, 50) : Number.NaN,
            extraP90Ms: percentile(extra, 90),
            firstP50Ms: percentile(firsts, 50),
            secondP50Ms: percentile(r.samples.map((x) => x.secondMs), 50),
            firstMaxMs: firsts.reduce((a, b) => Math.max(a, b), 0),
            hosts: r.samples.length,
            errors: r.errors,
            foreignCores: r.cpu.foreignCores,
            ...(loop ? { loopMaxMs: loop.busyMaxMs, loopProcessMaxMs: loop.processBusyMaxMs, loopWallMaxMs: loop.maxMs } : {}),
          };
          result.runs.push(figures);
          if (r.errors > 0) note(result, run, `${r.errors} hosts failed (first: ${r.firstError ?? '?'})`);
          if (loop?.bound === 'process') note(result, run, 'event-loop blocks bounded by the process\'s CPU time: this system gives no per-thread schedstat');
          ctx.log(`[firstcontact] run ${run + 1}/${s.runs} ${peer.name}: extra p50 ${fmt(figures.extraMs!, 2)} ms over ${r.samples.length} hosts (first ${fmt(figures.firstP50Ms!, 2)} ms, second ${fmt(figures.secondP50Ms!, 2)} ms, worst first ${fmt(figures.firstMaxMs!, 1)} ms)${loop ? `, event loop blocked up to ${fmt(loop.busyMaxMs, 1)} ms (${loop.bound === 'loop-thread' ? 'less its thread\'s waits for a CPU' : 'bounded by process CPU'}; bounded by process CPU ${fmt(loop.processBusyMaxMs, 1)} ms, late up to ${fmt(loop.maxMs, 1)} ms)` : ''}${noise(r.cpu)}`);
        } catch (error) {
          result.runs.push({ extraMs: Number.NaN });
          note(result, run, (error as Error).message);
          ctx.log(`[firstcontact] run ${run + 1}/${s.runs} ${peer.name} failed: ${(error as Error).message}`);
        }
      }
    }
  });
  return results;
}

async function flowsScenario(ctx: BenchContext): Promise<ScenarioResults> {
  const s = ctx.settings;
  const results: ScenarioResults = {};
  // Memory is cumulative, so one run per peer on a fresh process: what a user's proxy holds after s.flows requests.
  await withPeers(ctx, 'flows', results, { names: [ORIGIN_HOST] }, async (peers) => {
    await prime(ctx, peers, results);
    for (const peer of peers) {
      const result = results[peer.name]!;
      const idle = peer.pid !== null ? readRss(peer.pid) : null;
      const sampler = peer.pid !== null ? new RssSampler(peer.pid, 100) : null;
      try {
        const r = await ctx.runJob({ kind: 'flows', target: target(ctx, peer), host: ORIGIN_HOST, path: '/1k', connections: s.keepAliveConnections, count: s.flows, timeoutMs: s.flowsTimeoutMs }, peer.pid);
        const rss = sampler?.stop();
        if (r.kind !== 'flows') throw new Error(`unexpected result ${r.kind}`);
        result.runs.push({ rssMiB: rss ? rss.end / MIB : undefined, rssIdleMiB: idle !== null ? idle / MIB : undefined, rssPeakMiB: rss ? rss.peak / MIB : undefined, flows: r.count, seconds: r.seconds, errors: r.errors, foreignCores: r.cpu.foreignCores });
        if (!r.complete) note(result, 0, `only ${r.count} of ${s.flows} flows within ${s.flowsTimeoutMs / 1000} s (${r.errors} errors${r.firstError ? `, first: ${r.firstError}` : ''})`);
        const memory = rss && idle !== null ? `, RSS ${fmt(idle / MIB, 1)} MiB idle → ${fmt(rss.end / MIB, 1)} MiB after (peak ${fmt(rss.peak / MIB, 1)})` : '';
        ctx.log(`[flows] ${peer.name}: ${r.count} flows in ${fmt(r.seconds, 1)} s${memory}${noise(r.cpu)}`);
      } catch (error) {
        sampler?.stop();
        result.runs.push({ rssMiB: Number.NaN });
        note(result, 0, (error as Error).message);
        ctx.log(`[flows] ${peer.name} failed: ${(error as Error).message}`);
      }
    }
  });
  return results;
}

/** Runs one scenario on every peer; extras (mitmdump's buffered download) go into `extras`. */
export function runScenario(ctx: BenchContext, scenario: ScenarioName, extras: BenchResults): Promise<ScenarioResults> {
  switch (scenario) {
    case 'keepalive':
      return rateScenario(ctx, 'keepalive', 'rps', 'req/s');
    case 'newconn':
      return rateScenario(ctx, 'newconn', 'cps', 'conn/s');
    case 'websocket':
      return rateScenario(ctx, 'websocket', 'mps', 'msg/s');
    case 'download':
      return downloadScenario(ctx, extras);
    case 'firstcontact':
      return firstContactScenario(ctx);
    case 'flows':
      return flowsScenario(ctx);
    default: {
      const never: never = scenario;
      throw new Error(`unknown scenario ${String(never)}`);
    }
  }
}
