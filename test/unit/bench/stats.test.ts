import { describe, expect, it } from 'vitest';
import { percentile, ratio, summarize } from '../../../bench/stats.js';

describe('summarize', () => {
  it('gives median, extremes and relative spread', () => {
    expect(summarize([30, 10, 20])).toEqual({ n: 3, median: 20, min: 10, max: 30, spread: 1 });
    expect(summarize([4, 1, 2, 3])).toMatchObject({ n: 4, median: 2.5, min: 1, max: 4 });
  });
  it('ignores non-finite values and returns null when nothing is left', () => {
    expect(summarize([Number.NaN, 5, Number.POSITIVE_INFINITY])).toEqual({ n: 1, median: 5, min: 5, max: 5, spread: 0 });
    expect(summarize([])).toBeNull();
    expect(summarize([Number.NaN])).toBeNull();
  });
  it('does not reorder its input', () => {
    const values = [3, 1, 2];
    summarize(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('percentile', () => {
  it('interpolates between closest ranks', () => {
    const values = Array.from({ length: 101 }, (_, i) => i);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([1, 2], 50)).toBe(1.5);
    expect(percentile([7], 90)).toBe(7);
  });
  it('clamps p and returns NaN for no values', () => {
    expect(percentile([1, 2, 3], 150)).toBe(3);
    expect(percentile([1, 2, 3], -5)).toBe(1);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('ratio', () => {
  it('divides, or says null when it cannot', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNull();
    expect(ratio(null, 2)).toBeNull();
    expect(ratio(2, undefined)).toBeNull();
    expect(ratio(Number.NaN, 2)).toBeNull();
  });
});
