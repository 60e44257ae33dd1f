// Summarizes a V8 .cpuprofile (written by `node --cpu-prof`): the top frames by self time, the files that cost the
// most, and the inclusive time of our own functions. Pure: takes the parsed JSON. Format: the DevTools protocol's
// Profiler.Profile (nodes with callFrame and children, samples, timeDeltas in µs).
// Also runnable: `node --import tsx bench/cpu-profile.ts FILE.cpuprofile [N] [REGEX]`, where REGEX picks the files
// whose functions get inclusive times (default: mitmlab's server code).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of a .cpuprofile this summary reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface FrameCost {
  /** "functionName file:line". */
  frame: string;
  ms: number;
  /** Share of the busy (non-idle) time. */
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  topSelf: FrameCost[];
  topFiles: FrameCost[];
  /** Inclusive time of functions whose file matches `ownCode` (mitmlab's server, unless told otherwise). */
  topOwnInclusive: FrameCost[];
}

const VIRTUAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function shortUrl(url: string): string {
  if (!url) return '';
  const dist = url.indexOf('/dist/server/');
  if (dist >= 0) return url.slice(dist + 1);
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + 1);
  return url.replace(/^file:\/\//, '');
}

function frameName(cf: CallFrame): string {
  const name = cf.functionName || '(anonymous)';
  if (VIRTUAL.has(name) && !cf.url) return name;
  const url = shortUrl(cf.url);
  return url ? `${name} ${url}:${cf.lineNumber + 1}` : name;
}

/** Summarizes `profile`; `ownCode` picks the files whose functions get inclusive times. */
export function summarizeProfile(profile: CpuProfile, top = 25, ownCode: RegExp = /dist\/server\/|\/server\//): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const self = new Map<string, number>();
  const files = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the gap to the next one.
    const us = Math.max(0, deltas[i + 1] ?? 0);
    const node = byId.get(samples[i]!);
    if (!node) continue;
    total += us;
    const name = frameName(node.callFrame);
    if (node.callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    self.set(name, (self.get(name) ?? 0) + us);
    const file = shortUrl(node.callFrame.url) || name;
    files.set(file, (files.get(file) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id)!.callFrame;
      if (!ownCode.test(cf.url)) continue;
      const key = frameName(cf);
      if (seen.has(key)) continue; // recursion counts once per sample
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const busy = total - idle;
  const rank = (map: Map<string, number>): FrameCost[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, us]) => ({ frame, ms: us / 1000, pct: busy > 0 ? (100 * us) / busy : 0 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, busyMs: busy / 1000, topSelf: rank(self), topFiles: rank(files), topOwnInclusive: rank(inclusive) };
}

/** The summary as text. */
export function renderProfile(summary: ProfileSummary): string {
  const list = (title: string, rows: FrameCost[]): string =>
    [title, ...rows.map((r) => `  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.frame}`)].join('\n');
  return [
    `busy ${summary.busyMs.toFixed(0)} ms of ${summary.totalMs.toFixed(0)} ms sampled (idle ${summary.idleMs.toFixed(0)} ms); shares are of busy time`,
    list('top frames by self time:', summary.topSelf),
    list('top files by self time:', summary.topFiles),
    list('selected functions (mitmlab\'s own by default) by inclusive time:', summary.topOwnInclusive),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node --import tsx bench/cpu-profile.ts FILE.cpuprofile [N] [REGEX]');
    process.exit(2);
  }
  const own = process.argv[4] ? new RegExp(process.argv[4]) : undefined;
  console.log(renderProfile(summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(process.argv[3] ?? 25), own)));
}
