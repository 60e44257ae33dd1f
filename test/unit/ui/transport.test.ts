// The transport without a browser: resume parameters, gap and duplicate handling, pause, backoff and the banner.

import { describe, expect, it } from 'vitest';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import type { ServerMessage } from '../../../server/protocol/wire.js';
import { LiveTransport, type ConnectionStatus, type TransportEnvironment, type WebSocketLike } from '../../../ui/src/lib/client/transport.js';
import { exchange } from '../hub/fixture.js';

class FakeSocket implements WebSocketLike {
  readyState = 1;
  sent: string[] = [];
  closed: number | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(data);
  }
  close(code = 1000): void {
    this.closed = code;
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
  deliver(message: ServerMessage): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }
}

function setup(authorized = true) {
  const sockets: FakeSocket[] = [];
  const timers: Array<() => void> = [];
  const delivered: ProxyEvent[] = [];
  const statuses: ConnectionStatus[] = [];
  const snapshots: number[] = [];
  const env: TransportEnvironment = {
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    setTimeout: (fn) => timers.push(fn),
    clearTimeout: () => undefined,
    checkAuthorized: async () => authorized,
  };
  const transport = new LiveTransport('ws://127.0.0.1:8081', {
    hello: () => undefined,
    snapshot: (s) => snapshots.push(s.seq),
    events: (events) => delivered.push(...events),
    reset: () => undefined,
    status: (status) => statuses.push(status),
  }, env);
  return { transport, sockets, timers, delivered, statuses, snapshots };
}

const hello = (hubId = 'h1', seq = 0): ServerMessage => ({ type: 'hello', version: 1, hubId, sessionId: null, seq, resumed: false, proxyPorts: [8080], ca: { sha256: '', spki: '', subject: null, notAfter: null } });
const events = (n: number) => Array.from({ length: n }, (_, i) => exchange(i + 1)[0]!);

describe('LiveTransport', () => {
  it('applies snapshot then batches, skipping duplicates, and resumes after a drop', async () => {
    const t = setup();
    t.transport.start();
    const first = t.sockets[0]!;
    expect(first.url).toBe('ws://127.0.0.1:8081/ws');
    first.deliver(hello());
    first.deliver({ type: 'snapshot', seq: 10, flows: [], log: [], secrets: [] });
    first.deliver({ type: 'batch', fromSeq: 11, events: events(3) });
    first.deliver({ type: 'batch', fromSeq: 12, events: events(4) }); // overlaps: 12, 13 seen, 14 and 15 new
    expect(t.delivered).toHaveLength(5);
    expect(t.transport.lastSeq).toBe(15);
    expect(t.statuses).toEqual(['connecting', 'live']);

    first.drop();
    expect(t.statuses.at(-1)).toBe('reconnecting');
    t.timers.shift()!();
    const second = t.sockets[1]!;
    expect(second.url).toBe('ws://127.0.0.1:8081/ws?hub=h1&after=15');
    second.deliver({ ...hello(), resumed: true } as ServerMessage);
    second.deliver({ type: 'batch', fromSeq: 16, events: events(1) });
    expect(t.transport.lastSeq).toBe(16);
    expect(t.statuses.at(-1)).toBe('live');
  });

  it('closes and resumes on a gap instead of showing a hole', () => {
    const t = setup();
    t.transport.start();
    const socket = t.sockets[0]!;
    socket.deliver(hello());
    socket.deliver({ type: 'snapshot', seq: 5, flows: [], log: [], secrets: [] });
    socket.deliver({ type: 'batch', fromSeq: 8, events: events(2) });
    expect(t.delivered).toHaveLength(0);
    expect(socket.closed).toBe(4000);
    t.timers.shift()!();
    expect(t.sockets[1]!.url).toContain('after=5');
  });

  it('forgets sequence numbers when the hub changed', () => {
    const t = setup();
    t.transport.start();
    t.sockets[0]!.deliver(hello('h1'));
    t.sockets[0]!.deliver({ type: 'snapshot', seq: 100, flows: [], log: [], secrets: [] });
    t.sockets[0]!.drop();
    t.timers.shift()!();
    t.sockets[1]!.deliver(hello('h2'));
    t.sockets[1]!.deliver({ type: 'snapshot', seq: 3, flows: [], log: [], secrets: [] });
    expect(t.snapshots).toEqual([100, 3]);
    t.sockets[1]!.deliver({ type: 'batch', fromSeq: 4, events: events(1) });
    expect(t.transport.lastSeq).toBe(4);
  });

  it('pauses: tells the hub, ignores in-flight batches, resumes from its position', () => {
    const t = setup();
    t.transport.start();
    const socket = t.sockets[0]!;
    socket.deliver(hello());
    socket.deliver({ type: 'snapshot', seq: 0, flows: [], log: [], secrets: [] });
    t.transport.pause();
    expect(JSON.parse(socket.sent.at(-1)!)).toEqual({ type: 'pause' });
    socket.deliver({ type: 'batch', fromSeq: 1, events: events(2) });
    expect(t.delivered).toHaveLength(0);
    t.transport.resume();
    expect(JSON.parse(socket.sent.at(-1)!)).toEqual({ type: 'resume', lastSeq: 0 });
    socket.deliver({ type: 'batch', fromSeq: 1, events: events(2) });
    expect(t.delivered).toHaveLength(2);
  });

  it('says offline after repeated failures, and unauthorized when the token is refused', async () => {
    const t = setup();
    t.transport.start();
    for (let i = 0; i < 6; i++) {
      t.sockets.at(-1)!.drop();
      t.timers.shift()!();
    }
    expect(t.statuses).toContain('offline');

    const u = setup(false);
    u.transport.start();
    u.sockets[0]!.drop();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(u.statuses.at(-1)).toBe('unauthorized');
    u.timers.shift()!();
    u.sockets[1]!.drop();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(u.statuses.at(-1)).toBe('unauthorized');
    u.transport.stop();
  });
});
