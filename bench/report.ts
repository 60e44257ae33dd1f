// Turns results into the printed table (Markdown, so it can go straight into the README) and the acceptance
// checks. Pure: no I/O.

import type { BenchSettings, ScenarioName } from './options.js';
import type { PeerName } from './peers/peer.js';
import type { BenchResults, MetricKey, PeerResult } from './results.js';
import { ratio, summarize, type Summary } from './stats.js';

/** One row of the table. */
export interface MetricDef {
  scenario: ScenarioName;
  key: MetricKey;
  label: (s: BenchSettings) => string;
  unit: string;
  better: 'higher' | 'lower';
  /** Whether "mitmlab ÷ direct" means something for this figure (a rate does; a proxy's memory does not). */
  vsDirect: boolean;
  /** For worst-case figures (memory growth, event-loop block) the row shows the worst run, not the median. */
  worst?: boolean;
  digits: number;
}

const mib = (bytes: number): string => `${Math.round(bytes / (1024 * 1024))} MiB`;

export const METRICS: readonly MetricDef[] = [
  { scenario: 'keepalive', key: 'rps', label: (s) => `keep-alive HTTPS GETs of 1 KiB, ${s.keepAliveConnections} connections`, unit: 'req/s', better: 'higher', vsDirect: true, digits: 0 },
  { scenario: 'keepalive', key: 'cpuUs', label: () => 'proxy CPU time per keep-alive request', unit: 'µs', better: 'lower', vsDirect: false, digits: 0 },
  { scenario: 'download', key: 'mbps', label: (s) => `one ${mib(s.downloadBytes)} download`, unit: 'MB/s', better: 'higher', vsDirect: true, digits: 0 },
  { scenario: 'download', key: 'rssGrowthMiB', label: () => 'proxy RSS growth during the download (worst run)', unit: 'MiB', better: 'lower', vsDirect: false, worst: true, digits: 1 },
  { scenario: 'download', key: 'cpuSecPerGB', label: () => 'proxy CPU time per GB downloaded', unit: 's', better: 'lower', vsDirect: false, digits: 2 },
  { scenario: 'newconn', key: 'cps', label: (s) => `new TLS connection per request, ${s.newConnConcurrency} concurrent`, unit: 'conn/s', better: 'higher', vsDirect: true, digits: 0 },
  { scenario: 'newconn', key: 'cpuMs', label: () => 'proxy CPU time per new connection', unit: 'ms', better: 'lower', vsDirect: false, digits: 2 },
  { scenario: 'firstcontact', key: 'extraMs', label: (s) => `extra time at first contact with a new host (p50 of ${s.newHosts} hosts)`, unit: 'ms', better: 'lower', vsDirect: false, digits: 2 },
  { scenario: 'firstcontact', key: 'loopMaxMs', label: () => 'longest event-loop block during first contacts, less the time its thread waited for a CPU (worst run)', unit: 'ms', better: 'lower', vsDirect: false, worst: true, digits: 1 },
  { scenario: 'websocket', key: 'mps', label: (s) => `WebSocket echo, ${s.wsConnections} connections, ${s.wsMessageBytes} B messages`, unit: 'msg/s', better: 'higher', vsDirect: true, digits: 0 },
  { scenario: 'websocket', key: 'cpuUs', label: () => 'proxy CPU time per echoed message', unit: 'µs', better: 'lower', vsDirect: false, digits: 0 },
  { scenario: 'flows', key: 'rssMiB', label: (s) => `proxy RSS after ${s.flows.toLocaleString('en-US')} flows`, unit: 'MiB', better: 'lower', vsDirect: false, worst: true, digits: 1 },
];

/** The figure a row shows for one peer: median of the runs (or the worst run), with min–max. */
export function figure(result: PeerResult | undefined, metric: MetricDef): (Summary & { value: number }) | null {
  if (!result) return null;
  const summary = summarize(result.runs.map((r) => r[metric.key] ?? Number.NaN));
  if (!summary) return null;
  const value = metric.worst ? (metric.better === 'lower' ? summary.max : summary.min) : summary.median;
  return { ...summary, value };
}

/** How many times better mitmlab is than `peer` on this figure (> 1: mitmlab is better). */
export function advantage(metric: MetricDef, mitmlab: number | null | undefined, peer: number | null | undefined): number | null {
  return metric.better === 'higher' ? ratio(mitmlab, peer) : ratio(peer, mitmlab);
}

/**
 * mitmlab's advantage over a peer, run by run: run i of both happened at nearly the same time (runs interleave), so
 * the ratio of run i cancels most of the machine's drifting load. Summarized over the runs. Worst-case figures
 * (memory, event-loop block) compare the worst runs instead.
 */
export function pairedAdvantage(metric: MetricDef, mitmlab: PeerResult | undefined, peer: PeerResult | undefined): Summary | null {
  if (!mitmlab || !peer) return null;
  if (metric.worst) {
    const r = advantage(metric, figure(mitmlab, metric)?.value, figure(peer, metric)?.value);
    return r === null ? null : { n: 1, median: r, min: r, max: r, spread: 0 };
  }
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(mitmlab.runs.length, peer.runs.length); i++) {
    const r = advantage(metric, mitmlab.runs[i]![metric.key], peer.runs[i]![metric.key]);
    if (r !== null) ratios.push(r);
  }
  return summarize(ratios);
}

function number(n: number, digits: number): string {
  // "-0.00" would read as a measurement; a value that rounds to zero is shown as zero.
  if (Math.abs(n) < 0.5 * 10 ** -digits) n = 0;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function cell(metric: MetricDef, f: ReturnType<typeof figure>): string {
  if (!f) return '—';
  if (f.n === 1 || metric.worst) return number(f.value, metric.digits);
  return `${number(f.value, metric.digits)} (${number(f.min, metric.digits)}–${number(f.max, metric.digits)})`;
}

const x = (r: number): string => `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`;
const times = (r: Summary | null): string => (r === null ? '—' : r.n === 1 ? x(r.median) : `${x(r.median)} (${x(r.min)}–${x(r.max)})`);

/** The comparison table in Markdown. Peers missing from the run get no column. */
export function renderTable(results: BenchResults, settings: BenchSettings, labels: Partial<Record<PeerName, string>>): string {
  const peers = settings.peers.filter((p) => labels[p]);
  const others = peers.filter((p) => p !== 'mitmlab' && p !== 'direct');
  const header = ['scenario', ...peers.map((p) => labels[p]!), ...(peers.includes('mitmlab') ? ['mitmlab ÷ direct', ...others.map((p) => `mitmlab vs ${p}`)] : [])];
  const rows: string[][] = [];
  for (const metric of METRICS) {
    const scenario = results.scenarios[metric.scenario];
    if (!scenario) continue;
    const figures = Object.fromEntries(peers.map((p) => [p, figure(scenario[p], metric)]));
    if (peers.every((p) => !figures[p])) continue; // e.g. proxy CPU when only direct ran
    const row = [`${metric.label(settings)} (${metric.unit}, ${metric.better} is better)`, ...peers.map((p) => cell(metric, figures[p] ?? null))];
    if (peers.includes('mitmlab')) {
      row.push(metric.vsDirect ? times(pairedAdvantage(metric, scenario['mitmlab'], scenario['direct'])) : '—');
      for (const p of others) row.push(times(pairedAdvantage(metric, scenario['mitmlab'], scenario[p])));
    }
    rows.push(row);
  }
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** How to read the "mitmlab vs X" columns; the relay columns, when they ran, are references rather than rivals. */
export function ratioLegend(peers: readonly PeerName[]): string {
  const legend = '"mitmlab vs X": how many times better mitmlab is (> 1 is better).';
  if (!peers.includes('mitmlab')) return legend;
  // The relays do the two TLS legs' crypto (and, for http-relay, node:http) and nothing else: no intercepting proxy
  // built the same way can beat them.
  const notes: string[] = [];
  if (peers.includes('tls-relay')) {
    notes.push(`tls-relay is the ceiling any intercepting proxy could reach on this machine with Node's TLS, so "mitmlab vs tls-relay" is expected below 1: it is the share of that ceiling mitmlab reaches.`);
  }
  if (peers.includes('http-relay')) {
    notes.push('http-relay adds node:http on both legs and nothing else: the ceiling of a Node proxy that reads HTTP, with no capture.');
  }
  return [legend, ...notes].join(' ');
}

/** One acceptance criterion of issue 6 and what this run measured. pass is null when it was not measured. */
export interface Check {
  criterion: string;
  measured: string;
  pass: boolean | null;
}

/** The acceptance criteria: ratios are medians of run-by-run ratios; memory and blocking use the worst run. */
export function acceptance(results: BenchResults, settings: BenchSettings): Check[] {
  const metric = (scenario: ScenarioName, key: MetricKey): MetricDef => METRICS.find((m) => m.scenario === scenario && m.key === key)!;
  const value = (scenario: ScenarioName, key: MetricKey, peer: PeerName): number | null => figure(results.scenarios[scenario]?.[peer], metric(scenario, key))?.value ?? null;
  const checks: Check[] = [];
  const relative = (criterion: string, scenario: ScenarioName, key: MetricKey, peer: PeerName, min: number): void => {
    if (!results.scenarios[scenario]) return;
    const r = pairedAdvantage(metric(scenario, key), results.scenarios[scenario]?.['mitmlab'], results.scenarios[scenario]?.[peer])?.median ?? null;
    checks.push({ criterion, measured: r === null ? 'not measured' : `${r.toFixed(2)}×`, pass: r === null ? null : r >= min });
  };
  const absolute = (criterion: string, scenario: ScenarioName, key: MetricKey, max: number, unit: string, strict: boolean): void => {
    if (!results.scenarios[scenario]) return;
    const v = value(scenario, key, 'mitmlab');
    checks.push({ criterion, measured: v === null ? 'not measured' : `${v.toFixed(2)} ${unit}`, pass: v === null ? null : strict ? v < max : v <= max });
  };
  relative('keep-alive req/s ≥ 0.3× direct', 'keepalive', 'rps', 'direct', 0.3);
  relative('keep-alive req/s ≥ 5× mitmproxy', 'keepalive', 'rps', 'mitmdump', 5);
  relative('keep-alive req/s ≥ 1.5× http-mitm-proxy', 'keepalive', 'rps', 'http-mitm-proxy', 1.5);
  relative(`${mib(settings.downloadBytes)} download ≥ 0.8× direct`, 'download', 'mbps', 'direct', 0.8);
  absolute('RSS growth during the download < 64 MiB', 'download', 'rssGrowthMiB', 64, 'MiB', true);
  relative('new TLS connections/s ≥ 2× mitmproxy', 'newconn', 'cps', 'mitmdump', 2);
  absolute('first contact with a new host ≤ 2 ms extra (p50)', 'firstcontact', 'extraMs', 2, 'ms', false);
  absolute('event loop never blocked > 20 ms during first contacts', 'firstcontact', 'loopMaxMs', 20, 'ms', false);
  // "200 MB": read strictly as 200 × 10^6 bytes.
  absolute(`RSS ≤ 200 MB (190.7 MiB) after ${settings.flows.toLocaleString('en-US')} flows`, 'flows', 'rssMiB', 200e6 / (1024 * 1024), 'MiB', false);
  return checks;
}

/** Acceptance checks as Markdown list lines. */
export function renderChecks(checks: readonly Check[]): string {
  return checks.map((c) => `- ${c.pass === null ? '[ n/a ]' : c.pass ? '[ pass ]' : '[ MISS ]'} ${c.criterion}: ${c.measured}`).join('\n');
}
