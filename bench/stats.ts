// Small statistics for benchmark runs: the machine is noisy, so every figure is a median with its min–max.

/** Median, extremes and relative spread of a set of runs. */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  /** (max − min) / median: 0.1 means the runs varied by 10 % of the median. */
  spread: number;
}

/** Summarizes finite values; null when there are none. */
export function summarize(values: readonly number[]): Summary | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  const sorted = [...finite].sort((a, b) => a - b);
  const median = percentileSorted(sorted, 50);
  const min = sorted[0]!;
  const max = sorted[sorted.length - 1]!;
  return { n: sorted.length, median, min, max, spread: median === 0 ? 0 : (max - min) / Math.abs(median) };
}

/** Percentile p (0–100) with linear interpolation between closest ranks; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return Number.NaN;
  return percentileSorted([...finite].sort((a, b) => a - b), p);
}

function percentileSorted(sorted: readonly number[], p: number): number {
  const clamped = Math.min(100, Math.max(0, p));
  const rank = (clamped / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}
