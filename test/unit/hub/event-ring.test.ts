import { describe, expect, it } from 'vitest';
import { ClientQueue } from '../../../server/hub/client-queue.js';
import { EventRing } from '../../../server/hub/event-ring.js';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import { exchange } from './fixture.js';

const failure = (n: number): ProxyEvent => ({ type: 'tls-failed', conn: `c${n}`, leg: 'client', host: 'a.test', cause: 'cert-rejected', message: 'refused', alert: null, at: n });

describe('EventRing', () => {
  it('numbers events and serves what follows a sequence number while it holds it', () => {
    const ring = new EventRing({ ringEvents: 10 });
    for (let n = 1; n <= 15; n++) ring.push(exchange(n)[0]!);
    expect(ring.seq).toBe(15);
    expect(ring.oldestSeq).toBe(6);
    expect(ring.since(15)).toEqual([]);
    expect(ring.since(12)!.map((e) => e.seq)).toEqual([13, 14, 15]);
    expect(ring.since(5)!.map((e) => e.seq)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(ring.since(4)).toBeNull();
    expect(ring.since(16)).toBeNull();
    expect(JSON.parse(ring.since(14)![0]!.json)).toMatchObject({ type: 'http-request', id: 'c15.1' });
  });

  it('bounds the ring by bytes too', () => {
    const ring = new EventRing({ ringBytes: 2000 });
    for (let n = 1; n <= 100; n++) ring.push(exchange(n)[1]!);
    expect(ring.ringStats.bytes).toBeLessThanOrEqual(2000);
    expect(ring.ringStats.events).toBeGreaterThan(0);
  });

  it('keeps bounded log and secrets lists', () => {
    const ring = new EventRing({ logEntries: 3, secretEntries: 2 });
    for (let n = 1; n <= 5; n++) {
      ring.push(failure(n));
      ring.push({ type: 'secrets-found', id: `c${n}.1`, conn: `c${n}`, secrets: [{ kind: 'cookie', name: 'a', value: 'b', location: 'request-header' }], at: n });
    }
    ring.push({ type: 'store-error', code: 'write-failed', message: 'disk full', at: 9 });
    expect(ring.log().map((e) => e.at)).toEqual([4, 5, 9]);
    expect(ring.secrets().map((e) => e.at)).toEqual([4, 5]);
  });

  it('indexes events per connection and forgets the oldest connections first', () => {
    const ring = new EventRing({ detailConns: 3, detailEventsPerConn: 3 });
    for (let n = 1; n <= 5; n++) for (const e of exchange(n)) ring.push(e);
    expect(ring.connEventsJson('c1')).toBeNull();
    expect(ring.connEventsJson('c5')).toMatchObject({ complete: true });
    expect(JSON.parse(ring.connEventsJson('c5')!.json)).toHaveLength(2);
    for (let i = 0; i < 5; i++) ring.push(exchange(5)[1]!);
    // Past its bound a connection keeps its first events and says that it is not whole.
    expect(JSON.parse(ring.connEventsJson('c5')!.json)).toHaveLength(3);
    expect(ring.connEventsJson('c5')).toMatchObject({ complete: false });
  });
});

describe('ClientQueue', () => {
  it('sends while the socket buffer is low, queues above the high-water mark, resets past its bounds', () => {
    const sent: string[] = [];
    const socket = { bufferedAmount: 0, send: (m: string) => void sent.push(m) };
    const queue = new ClientQueue(socket, { highWaterBytes: 100, maxQueueBytes: 50, maxQueueMessages: 3 });
    expect(queue.enqueue('a'.repeat(10), 1)).toBe(true);
    expect(sent).toHaveLength(1);
    socket.bufferedAmount = 200;
    expect(queue.enqueue('b'.repeat(10), 2)).toBe(true);
    expect(queue.enqueue('c'.repeat(10), 3)).toBe(true);
    expect(queue.queuedBytes).toBe(20);
    expect(sent).toHaveLength(1);
    socket.bufferedAmount = 0;
    queue.pump();
    expect(sent).toHaveLength(3);
    expect(queue.sentSeq).toBe(3);
    socket.bufferedAmount = 200;
    expect(queue.enqueue('d'.repeat(30))).toBe(true);
    expect(queue.enqueue('e'.repeat(30))).toBe(false);
    expect(queue.state).toBe('resetting');
    expect(queue.queuedBytes).toBe(0);
    expect(JSON.parse(sent.at(-1)!)).toMatchObject({ type: 'reset', reason: 'slow-consumer' });
    expect(queue.readyForSnapshot).toBe(false);
    socket.bufferedAmount = 0;
    expect(queue.readyForSnapshot).toBe(true);
  });
});
