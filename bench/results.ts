// The shape of a bench run's results, as kept in memory and written to <data-dir>/bench/<timestamp>.json.

import type { ScenarioName } from './options.js';
import type { PeerName } from './peers/peer.js';

/** Figures a run can produce; each scenario fills its own. */
export type MetricKey = 'rps' | 'mbps' | 'rssGrowthMiB' | 'cps' | 'extraMs' | 'loopMaxMs' | 'mps' | 'rssMiB' | 'cpuUs' | 'cpuMs' | 'cpuSecPerGB';

export type RunFigures = Partial<Record<MetricKey, number>> & Record<string, number | undefined>;

/** One peer in one scenario. */
export interface PeerResult {
  label: string;
  /** One entry per run, in run order. */
  runs: RunFigures[];
  /** What went wrong, in words (failed start, errors during a run). */
  notes: string[];
}

export type ScenarioResults = Partial<Record<PeerName, PeerResult>>;

/** mitmdump with its default of buffering whole bodies, cut off at a deadline. */
export interface BufferedDownload {
  label: string;
  bytes: number;
  seconds: number;
  mbPerSec: number;
  complete: boolean;
  rssGrowthMiB: number;
}

export interface BenchResults {
  scenarios: Partial<Record<ScenarioName, ScenarioResults>>;
  bufferedDownload?: BufferedDownload;
  /** Top frames of mitmlab's CPU profile per scenario, with --profile. */
  profiles?: Partial<Record<ScenarioName, unknown>>;
}

export const MIB = 1024 * 1024;
