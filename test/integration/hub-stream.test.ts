// The live stream's guarantees: snapshot + batches are gap-free and in order under load, a reconnecting client
// resumes from its last sequence number, pause holds batches back, and a stalled client gets a reset while the
// hub's memory for it stays within its queue bounds.

import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProxyEvent } from '../../server/protocol/events.js';
import { applyEvent, createFlowIndex, flowList } from '../../server/protocol/flow-reducer.js';
import type { Batch, HubHello, ServerMessage, Snapshot } from '../../server/protocol/wire.js';
import { connectWire, exchange, lastSeq, startTestHub, type TestHub } from '../unit/hub/fixture.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Emits events in chunks, yielding between them so the hub's timers run as they would under real traffic. */
async function emitAll(t: TestHub, events: ProxyEvent[], chunk = 250): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    for (const event of events.slice(i, i + chunk)) t.bus.emit(event);
    await pause(1);
  }
  await t.bus.flushed();
}

function eventsAfterSnapshot(messages: ServerMessage[]): ProxyEvent[] {
  const start = messages.findIndex((m) => m.type === 'snapshot');
  return messages.slice(start + 1).flatMap((m) => (m.type === 'batch' ? m.events : []));
}

let t: TestHub | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

describe('hub stream', () => {
  it('is gap-free and in order under 5k flows, for a client there from the start and one joining midway', async () => {
    t = await startTestHub();
    const hub = t;
    const all: ProxyEvent[] = [];
    for (let n = 1; n <= 5000; n++) all.push(...exchange(n));
    const early = await connectWire(hub);
    await early.until((m) => m.some((x) => x.type === 'snapshot'));

    await emitAll(hub, all.slice(0, 4000));
    const late = await connectWire(hub);
    await emitAll(hub, all.slice(4000));
    const total = all.length;
    expect(hub.hub.stats().seq).toBe(total);
    await early.until((m) => lastSeq(m) === total);
    await late.until((m) => lastSeq(m) === total);

    // The early client saw an empty snapshot, then every event exactly once, in emission order.
    const seen = eventsAfterSnapshot(early.messages);
    expect(seen).toHaveLength(total);
    expect(seen.map((e) => `${e.type}:${'id' in e ? e.id : ''}`)).toEqual(all.map((e) => `${e.type}:${'id' in e ? e.id : ''}`));

    // The late client: snapshot at some seq S, then exactly events S+1..total; snapshot + stream = the full state.
    const snapshot = late.messages.find((m): m is Snapshot => m.type === 'snapshot')!;
    expect(snapshot.seq).toBeGreaterThanOrEqual(4000);
    const rest = eventsAfterSnapshot(late.messages);
    expect(rest).toEqual(all.slice(snapshot.seq));
    const index = createFlowIndex(50_000);
    for (const row of snapshot.flows) index.flows.set(row.id, row);
    for (const event of rest) applyEvent(index, event);
    const rows = flowList(index);
    expect(rows).toHaveLength(5000);
    expect(rows.every((row) => row.state === 'done' && row.status === 200)).toBe(true);

    // Batching: far fewer messages than events, none larger than the batch bound.
    const batches = early.messages.filter((m): m is Batch => m.type === 'batch');
    expect(batches.length).toBeLessThan(total / 5);
    expect(Math.max(...batches.map((b) => b.events.length))).toBeLessThanOrEqual(500);
    early.close();
    late.close();
  });

  it('resumes a reconnecting client from its last sequence number, or snapshots when the ring lost it', async () => {
    t = await startTestHub({ limits: { ring: { ringEvents: 1000 } } });
    const hub = t;
    const first = await connectWire(hub);
    await emitAll(hub, Array.from({ length: 100 }, (_, i) => exchange(i + 1)).flat());
    await first.until((m) => lastSeq(m) === 200);
    const hello = first.messages[0] as HubHello;
    first.close();

    await emitAll(hub, Array.from({ length: 100 }, (_, i) => exchange(i + 101)).flat());
    const again = await connectWire(hub, `?hub=${hello.hubId}&after=200`);
    await again.until((m) => lastSeq([{ type: 'snapshot', seq: 200, flows: [], log: [], secrets: [] }, ...m]) === 400);
    expect(again.messages[0]).toMatchObject({ type: 'hello', resumed: true, seq: 400 });
    expect(again.messages.some((m) => m.type === 'snapshot')).toBe(false);
    expect((again.messages[1] as Batch).fromSeq).toBe(201);
    again.close();

    // Another hub's id, or a position the ring no longer holds: hello + snapshot instead.
    const stranger = await connectWire(hub, `?hub=0000000000000000&after=200`);
    await stranger.until((m) => m.some((x) => x.type === 'snapshot'));
    expect(stranger.messages[0]).toMatchObject({ type: 'hello', resumed: false });
    stranger.close();
    await emitAll(hub, Array.from({ length: 600 }, (_, i) => exchange(i + 201)).flat());
    const stale = await connectWire(hub, `?hub=${hello.hubId}&after=200`);
    await stale.until((m) => m.some((x) => x.type === 'snapshot'));
    expect(stale.messages[0]).toMatchObject({ type: 'hello', resumed: false });
    expect((stale.messages[1] as Snapshot).seq).toBe(1600);
    expect((stale.messages[1] as Snapshot).flows).toHaveLength(800);
    stale.close();
  });

  it('holds batches back while paused and catches up on resume', async () => {
    t = await startTestHub();
    const hub = t;
    const client = await connectWire(hub);
    await client.until((m) => m.some((x) => x.type === 'snapshot'));
    client.ws.send(JSON.stringify({ type: 'pause' }));
    await pause(50);
    await emitAll(hub, exchange(1));
    await pause(200);
    expect(client.messages.filter((m) => m.type === 'batch')).toHaveLength(0);
    client.ws.send(JSON.stringify({ type: 'resume', lastSeq: 0 }));
    await client.until((m) => lastSeq(m) === 2);
    client.ws.send('not json');
    client.ws.send(JSON.stringify({ type: 'resume', lastSeq: -5 }));
    await emitAll(hub, exchange(2));
    await client.until((m) => lastSeq(m) === 4);
    client.close();
  });

  it('gives a stalled client a reset, keeps its queue bounded, and recovers it with a snapshot', async () => {
    const queue = { highWaterBytes: 256 * 1024, maxQueueBytes: 4 * 1024 * 1024, maxQueueMessages: 64 };
    const batchBytes = 500 * 1700; // 500 events of ~1.7 kB each
    t = await startTestHub({ limits: { queue, ring: { ringBytes: 2 * 1024 * 1024 } } });
    const hub = t;
    const stalled = await connectWire(hub);
    const healthy = await connectWire(hub);
    await stalled.until((m) => m.some((x) => x.type === 'snapshot'));
    // Stop reading: the kernel buffers fill, then ws.bufferedAmount on the hub's side grows.
    (stalled.ws as unknown as { _socket: net.Socket })._socket.pause();

    const payload = 'x'.repeat(1600);
    const events: ProxyEvent[] = [];
    for (let i = 0; i < 25_000; i++) {
      events.push({ type: 'ws-message', id: 'c1.1', conn: 'c1', direction: 'receive', opcode: 1, size: payload.length, data: payload, truncated: false, at: i });
    }
    let peakBuffered = 0;
    for (let i = 0; i < events.length; i += 500) {
      for (const event of events.slice(i, i + 500)) hub.bus.emit(event);
      await pause(20);
      const client = hub.hub.stats().clients.find((c) => c.resets > 0 || c.bufferedAmount > 0);
      if (client) peakBuffered = Math.max(peakBuffered, client.bufferedAmount);
      for (const c of hub.hub.stats().clients) expect(c.queuedBytes).toBeLessThanOrEqual(queue.maxQueueBytes + batchBytes);
    }
    await hub.bus.flushed();
    await pause(200);

    const stats = hub.hub.stats();
    const behind = stats.clients.filter((c) => c.resets > 0);
    expect(behind).toHaveLength(1);
    // Bounded: the queue never exceeded its byte bound by more than one batch, and the socket buffer stayed below
    // the high-water mark plus one message, whatever the 40 MB that went by.
    expect(behind[0]!.peakQueuedBytes).toBeLessThanOrEqual(queue.maxQueueBytes + batchBytes);
    expect(peakBuffered).toBeGreaterThan(0);
    expect(peakBuffered).toBeLessThanOrEqual(queue.highWaterBytes + batchBytes);
    expect(stats.ring.bytes).toBeLessThanOrEqual(2 * 1024 * 1024);

    // The healthy client got everything, in order.
    await healthy.until((m) => lastSeq(m) === events.length);

    // Reading again, the stalled client finds a reset, then a snapshot at a recent seq, then the rest in order.
    (stalled.ws as unknown as { _socket: net.Socket })._socket.resume();
    await stalled.until((m) => m.some((x) => x.type === 'reset') && m.slice(m.findIndex((x) => x.type === 'reset')).some((x) => x.type === 'snapshot'));
    hub.bus.emit(exchange(9)[0]!);
    await stalled.until((m) => {
      const after = m.slice(m.findIndex((x) => x.type === 'reset') + 1);
      return after.length > 0 && lastSeq(after) === events.length + 1;
    });
    const reset = stalled.messages.find((m) => m.type === 'reset');
    expect(reset).toMatchObject({ type: 'reset', reason: 'slow-consumer' });
    stalled.close();
    healthy.close();
  });
});
