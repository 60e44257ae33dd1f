import { describe, expect, it } from 'vitest';
import { Unfinished } from '../../../server/core/unfinished.js';

const later = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('Unfinished', () => {
  it('is drained at once when nothing is under way', async () => {
    await expect(new Unfinished().drained(1_000, 1)).resolves.toBe(true);
  });

  it('waits for work added while it waits, including work that starts just after the rest ended', async () => {
    const unfinished = new Unfinished();
    const order: string[] = [];
    const done = unfinished.begin();
    setTimeout(() => {
      done();
      order.push('socket closed');
      // The request's own 'close' comes a few turns after its connection's.
      setTimeout(() => unfinished.add(later(20).then(() => order.push('request recorded'))), 5);
    }, 10);
    await expect(unfinished.drained(2_000)).resolves.toBe(true);
    expect(order).toEqual(['socket closed', 'request recorded']);
    expect(unfinished.size).toBe(0);
  });

  it('gives up after its limit, and a failed piece of work counts as ended', async () => {
    const unfinished = new Unfinished();
    unfinished.begin(); // never ends
    unfinished.add(Promise.reject(new Error('decode failed')));
    await expect(unfinished.drained(100)).resolves.toBe(false);
    expect(unfinished.size).toBe(1);
  });
});
