// `npm run bench` options: declared once (name, default, help), parsed into settings. Pure: no I/O.

import { DEFAULT_PEERS, OPT_IN_PEERS, PEER_NAMES, type PeerName } from './peers/peer.js';

export const SCENARIO_NAMES = ['keepalive', 'download', 'newconn', 'firstcontact', 'websocket', 'flows'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** Everything one bench run needs to know. */
export interface BenchSettings {
  scenarios: ScenarioName[];
  peers: PeerName[];
  /** Runs of each timed scenario per peer (interleaved across peers). */
  runs: number;
  /** Counted window of each timed run, after `warmupMs` that is not counted. */
  durationMs: number;
  warmupMs: number;
  /** keepalive: connections; newconn: concurrency; websocket: connections and message size. */
  keepAliveConnections: number;
  newConnConcurrency: number;
  wsConnections: number;
  wsMessageBytes: number;
  /** download: body size, and how long mitmdump's buffering default may take before it is cut off. */
  downloadBytes: number;
  downloadTimeoutMs: number;
  bufferedCapMs: number;
  /** firstcontact: new hosts per run. */
  newHosts: number;
  /** flows: requests before reading RSS, and their deadline. */
  flows: number;
  flowsTimeoutMs: number;
  profile: boolean;
  /** Extra `mitmlab start` arguments, to compare a setting against the defaults (e.g. --leaf-key ec). */
  mitmlabArgs: string[];
  /** node's flags for mitmlab instead of bin/node-flags.js (null: those), to measure them. */
  nodeArgs: string[] | null;
  build: boolean;
  dataDir: string;
  quick: boolean;
}

interface OptionSpec {
  name: string;
  arg?: string;
  help: string;
}

/** The options, for --help. */
export const OPTIONS: readonly OptionSpec[] = [
  { name: 'quick', help: 'One short run of each scenario (2 s windows, 20 new hosts, 5k flows, 64 MiB download), for iteration.' },
  { name: 'only', arg: 'LIST', help: `Comma-separated scenarios to run: ${SCENARIO_NAMES.join(', ')} (default: all).` },
  {
    name: 'peers',
    arg: 'LIST',
    help: `Comma-separated peers: ${PEER_NAMES.join(', ')} (default: ${DEFAULT_PEERS.join(', ')}; mitmdump is skipped when not on PATH). Opt-in, only when named: ${OPT_IN_PEERS.join(', ')}: bare relays (bytes; node:http) that show the floor cost of an intercepting proxy here.`,
  },
  { name: 'runs', arg: 'N', help: 'Runs of each timed scenario per peer, interleaved (default 3; 1 with --quick).' },
  { name: 'duration', arg: 'SECONDS', help: 'Counted window of each timed run (default 5; 2 with --quick), after a 1 s warm-up (0.5 s with --quick).' },
  { name: 'flows', arg: 'N', help: 'Requests before the flows scenario reads RSS (default 20000; 5000 with --quick).' },
  { name: 'profile', help: 'Run mitmlab under node --cpu-prof; save one .cpuprofile per scenario and print its top frames.' },
  { name: 'mitmlab-args', arg: 'ARGS', help: 'Extra `mitmlab start` arguments, space-separated, to measure a setting against the defaults (e.g. "--leaf-key ec").' },
  { name: 'node-args', arg: 'ARGS', help: 'node flags for the mitmlab process instead of the ones `npm start` gives it (bin/node-flags.js), space-separated; "" for none. To measure a V8 setting.' },
  { name: 'no-build', help: 'Do not run `npm run build:server` first (use the dist/ already built).' },
  { name: 'data-dir', arg: 'DIR', help: 'Results go to DIR/bench/<timestamp>.json (default ./data).' },
  { name: 'help', help: 'Show this help.' },
];

/** The --help text. */
export function helpText(): string {
  const lines = OPTIONS.map((o) => `  --${o.name}${o.arg ? ` ${o.arg}` : ''}`.padEnd(22) + o.help);
  return ['usage: npm run bench -- [options]', '', 'Measures direct, mitmlab, http-mitm-proxy and mitmdump side by side on loopback (and, when named, tls-relay and http-relay as references).', '', ...lines].join('\n');
}

export type ParsedBench = { ok: true; settings: BenchSettings } | { ok: true; help: true } | { ok: false; error: string };

function list<T extends string>(value: string, allowed: readonly T[], what: string): T[] | string {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((item) => !allowed.includes(item as T));
  if (bad.length > 0 || items.length === 0) return `${what}: ${JSON.stringify(bad.join(',') || value)} is not one of ${allowed.join(', ')}`;
  return [...new Set(items)] as T[];
}

/** Parses the bench's argv (without node and the script). */
export function parseBenchArgs(argv: readonly string[]): ParsedBench {
  const given = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('--')) return { ok: false, error: `unexpected argument ${JSON.stringify(token)}` };
    const [rawName, inline] = token.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const spec = OPTIONS.find((o) => o.name === rawName);
    if (!spec) return { ok: false, error: `unknown option --${rawName} (see --help)` };
    if (spec.arg) {
      const value = inline ?? argv[++i];
      if (value === undefined) return { ok: false, error: `--${rawName} needs ${spec.arg}` };
      given.set(rawName, value);
    } else {
      if (inline !== undefined) return { ok: false, error: `--${rawName} takes no value` };
      given.set(rawName, true);
    }
  }
  if (given.has('help')) return { ok: true, help: true };
  const quick = given.has('quick');
  const scenarios = given.has('only') ? list(given.get('only') as string, SCENARIO_NAMES, 'only') : [...SCENARIO_NAMES];
  if (typeof scenarios === 'string') return { ok: false, error: scenarios };
  const peers = given.has('peers') ? list(given.get('peers') as string, PEER_NAMES, 'peers') : [...DEFAULT_PEERS];
  if (typeof peers === 'string') return { ok: false, error: peers };
  const positive = (name: string, fallback: number, max: number): number | string => {
    if (!given.has(name)) return fallback;
    const n = Number(given.get(name));
    return Number.isFinite(n) && n > 0 && n <= max ? n : `--${name} must be a number in (0, ${max}]`;
  };
  const runs = positive('runs', quick ? 1 : 3, 20);
  if (typeof runs === 'string') return { ok: false, error: runs };
  const duration = positive('duration', quick ? 2 : 5, 120);
  if (typeof duration === 'string') return { ok: false, error: duration };
  const flows = positive('flows', quick ? 5000 : 20_000, 1_000_000);
  if (typeof flows === 'string') return { ok: false, error: flows };
  const profile = given.has('profile');
  return {
    ok: true,
    settings: {
      scenarios,
      // Profiling is about mitmlab's hot path: the other peers would only add noise to its CPU share.
      peers: profile ? peers.filter((p) => p === 'mitmlab' || p === 'direct') : peers,
      runs: Math.round(runs),
      durationMs: Math.round(duration * 1000),
      warmupMs: quick ? 500 : 1000,
      keepAliveConnections: 32,
      newConnConcurrency: 8,
      wsConnections: 8,
      wsMessageBytes: 64,
      downloadBytes: (quick ? 64 : 256) * 1024 * 1024,
      downloadTimeoutMs: 120_000,
      bufferedCapMs: quick ? 5000 : 15_000,
      newHosts: quick ? 20 : 100,
      flows: Math.round(flows),
      // About 2,000 flows/s is the slowest peer's pace here (mitmdump); leave it room, bounded.
      flowsTimeoutMs: Math.min(600_000, Math.max(120_000, Math.round(flows) * 3)),
      profile,
      mitmlabArgs: given.has('mitmlab-args') ? (given.get('mitmlab-args') as string).split(/\s+/).filter(Boolean) : [],
      nodeArgs: given.has('node-args') ? (given.get('node-args') as string).split(/\s+/).filter(Boolean) : null,
      build: !given.has('no-build'),
      dataDir: given.has('data-dir') ? (given.get('data-dir') as string) : './data',
      quick,
    },
  };
}
