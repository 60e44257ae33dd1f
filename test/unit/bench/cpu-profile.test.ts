import { describe, expect, it } from 'vitest';
import { renderProfile, summarizeProfile, type CpuProfile } from '../../../bench/cpu-profile.js';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' });

// root → main (own code) → { parse (node internal), write (native) }; plus (idle) and (garbage collector).
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
    { id: 2, callFrame: frame('forwardExchange', 'file:///repo/dist/server/core/http-exchange.js', 108), children: [3, 4] },
    { id: 3, callFrame: frame('parse', 'node:_http_common', 10) },
    { id: 4, callFrame: frame('writeBuffer') },
    { id: 5, callFrame: frame('(idle)') },
    { id: 6, callFrame: frame('(garbage collector)') },
  ],
  // Each sample stands for the gap to the next one: timeDeltas[i + 1].
  samples: [2, 3, 3, 4, 5, 6, 2],
  timeDeltas: [0, 1000, 1000, 1000, 3000, 4000, 1000],
  startTime: 0,
  endTime: 11_000,
};

describe('summarizeProfile', () => {
  const summary = summarizeProfile(profile);
  it('charges each sample the time until the next one, and sets idle apart', () => {
    // forwardExchange 1, parse 2, writeBuffer 3, idle 4, GC 1; the last sample has no successor and counts 0.
    expect(summary.totalMs).toBe(11);
    expect(summary.idleMs).toBe(4);
    expect(summary.busyMs).toBe(7);
  });
  it('ranks frames by self time with their share of busy time', () => {
    expect(summary.topSelf[0]).toEqual({ frame: 'writeBuffer', ms: 3, pct: (100 * 3) / 7 });
    expect(summary.topSelf.map((f) => f.frame)).toEqual(['writeBuffer', 'parse node:_http_common:11', 'forwardExchange dist/server/core/http-exchange.js:109', '(garbage collector)']);
    expect(summary.topFiles[0]).toMatchObject({ frame: 'writeBuffer', ms: 3 });
  });
  it('gives our own functions their inclusive time (children included)', () => {
    expect(summary.topOwnInclusive).toEqual([{ frame: 'forwardExchange dist/server/core/http-exchange.js:109', ms: 6, pct: (100 * 6) / 7 }]);
  });
  it('renders as text and copes with an empty profile', () => {
    expect(renderProfile(summary)).toContain('top frames by self time');
    expect(summarizeProfile({ nodes: [], startTime: 0, endTime: 0 })).toMatchObject({ totalMs: 0, topSelf: [] });
  });
});
