import { describe, expect, it, vi } from 'vitest';
import { EventBus } from '../../../server/events/bus.js';
import type { ProxyEvent } from '../../../server/protocol/events.js';

const event = (n: number): ProxyEvent => ({ type: 'connection-close', conn: `c${n}`, bytesIn: 0, bytesOut: 0, at: n });

describe('EventBus', () => {
  it('dispatches asynchronously, in order, to every listener', async () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`a:${(e as { conn: string }).conn}`));
    bus.subscribe((e) => seen.push(`b:${(e as { conn: string }).conn}`));
    bus.emit(event(1));
    bus.emit(event(2));
    expect(seen).toEqual([]); // emitting never runs listener code inline
    await bus.flushed();
    expect(seen).toEqual(['a:c1', 'b:c1', 'a:c2', 'b:c2']);
  });

  it('isolates a failing listener and reports it once', async () => {
    const onListenerError = vi.fn();
    const bus = new EventBus({ onListenerError });
    const good: ProxyEvent[] = [];
    bus.subscribe(() => {
      throw new Error('boom');
    });
    bus.subscribe((e) => good.push(e));
    bus.emit(event(1));
    bus.emit(event(2));
    await bus.flushed();
    expect(good).toHaveLength(2);
    expect(onListenerError).toHaveBeenCalledTimes(1);
  });

  it('keeps global order for events emitted by listeners', async () => {
    const bus = new EventBus();
    const seen: number[] = [];
    bus.subscribe((e) => {
      seen.push(e.at);
      if (e.at === 1) bus.emit(event(3));
    });
    bus.emit(event(1));
    bus.emit(event(2));
    await bus.flushed();
    expect(seen).toEqual([1, 2, 3]);
  });

  it('stops delivering after unsubscribe', async () => {
    const bus = new EventBus();
    const seen: ProxyEvent[] = [];
    const off = bus.subscribe((e) => seen.push(e));
    off();
    bus.emit(event(1));
    await bus.flushed();
    expect(seen).toEqual([]);
  });

  it('delivers what was emitted before close(), and takes nothing after it', async () => {
    const bus = new EventBus();
    const seen: number[] = [];
    bus.subscribe((e) => seen.push(e.at));
    bus.emit(event(1));
    const closing = bus.close();
    bus.emit(event(2)); // still before the close completes: delivered
    await closing;
    bus.emit(event(3));
    await bus.flushed();
    expect(seen).toEqual([1, 2]);
  });
});
