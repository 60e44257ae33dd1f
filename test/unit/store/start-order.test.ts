import { describe, expect, it } from 'vitest';
import { StartOrderBuffer } from '../../../server/store/start-order.js';

describe('StartOrderBuffer', () => {
  it('gives entries back in start order, holding those that started after a flow still open', () => {
    const buffer = new StartOrderBuffer(1_000);
    buffer.add(30, 'c');
    buffer.add(10, 'a');
    buffer.add(20, 'b');
    // A flow that started at 15 is still open: only the entry that started before it may go.
    expect(buffer.takeReady(15)).toEqual(['a']);
    expect(buffer.size).toBe(2);
    expect(buffer.takeReady(null)).toEqual(['b', 'c']);
    expect(buffer.size).toBe(0);
  });

  it('keeps arrival order among entries that started in the same millisecond', () => {
    const buffer = new StartOrderBuffer(1_000);
    for (const text of ['first', 'second', 'third']) buffer.add(5, text);
    buffer.add(4, 'earlier');
    expect(buffer.takeAll()).toEqual(['earlier', 'first', 'second', 'third']);
  });

  it('lets everything waiting go, in start order, once it passes its bound', () => {
    const buffer = new StartOrderBuffer(10);
    buffer.add(3, 'xxxx');
    buffer.add(2, 'yyyy');
    // 8 characters: within the bound, still held behind the flow open since 1.
    expect(buffer.takeReady(1)).toEqual([]);
    buffer.add(4, 'zzzz');
    expect(buffer.takeReady(1)).toEqual(['yyyy', 'xxxx', 'zzzz']);
    // The count of held characters went back to zero: a small entry is held again.
    buffer.add(5, 'w');
    expect(buffer.takeReady(1)).toEqual([]);
  });
});
