// The origin pool's bookkeeping: what it keeps, for whom, how many, and when it lets go.

import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { announcedIdleLimitMs, idleBoundMs, OriginPool, type OriginConnection } from '../../../server/core/origin-pool.js';

const TARGET = { host: 'origin.test', port: 443, servername: 'origin.test', from: '127.0.0.1' };

function noted(pool: OriginPool, target = TARGET, conn = 'c1'): { socket: PassThrough; origin: OriginConnection } {
  const socket = new PassThrough();
  const origin: OriginConnection = {
    key: OriginPool.key(target),
    conn,
    chain: [],
    verification: { trusted: true, reason: null } as unknown as OriginConnection['verification'],
    endRecording: vi.fn(),
  };
  pool.note(socket, origin);
  return { socket, origin };
}

describe('OriginPool', () => {
  it('hands an idle connection to the next taker with the same key, once, and ends its first record', () => {
    const pool = new OriginPool({ perKey: 4, total: 16, idleMs: 60_000 });
    const { socket, origin } = noted(pool);
    expect(pool.offer(socket)).toBe(true);
    expect(origin.endRecording).toHaveBeenCalledTimes(1);
    expect(pool.size).toBe(1);
    expect(pool.take(OriginPool.key({ ...TARGET, from: '127.0.0.2' }))).toBeNull();
    expect(pool.take(OriginPool.key({ ...TARGET, servername: 'other.test' }))).toBeNull();
    const taken = pool.take(OriginPool.key(TARGET));
    expect(taken?.socket).toBe(socket);
    expect(taken?.origin.conn).toBe('c1');
    expect(pool.take(OriginPool.key(TARGET))).toBeNull();
    expect(pool.size).toBe(0);
  });

  it('refuses a connection it was not told about, one that is closed, and more than its limits', () => {
    const pool = new OriginPool({ perKey: 2, total: 3, idleMs: 60_000 });
    expect(pool.offer(new PassThrough())).toBe(false);
    const closed = noted(pool).socket;
    closed.destroy();
    expect(pool.offer(closed)).toBe(false);
    expect(pool.offer(noted(pool).socket)).toBe(true);
    expect(pool.offer(noted(pool).socket)).toBe(true);
    expect(pool.offer(noted(pool).socket)).toBe(false); // two per key
    expect(pool.offer(noted(pool, { ...TARGET, host: 'b.test' }).socket)).toBe(true);
    expect(pool.offer(noted(pool, { ...TARGET, host: 'c.test' }).socket)).toBe(false); // three in all
    expect(pool.size).toBe(3);
  });

  it('gives the most recently parked connection first, and skips one that died meanwhile', () => {
    const pool = new OriginPool({ perKey: 4, total: 16, idleMs: 60_000 });
    const older = noted(pool, TARGET, 'c1').socket;
    const newer = noted(pool, TARGET, 'c2').socket;
    pool.offer(older);
    pool.offer(newer);
    expect(pool.take(OriginPool.key(TARGET))?.origin.conn).toBe('c2');
    pool.offer(newer);
    // Ended without the pool seeing a 'close' yet: not usable any more.
    newer.end();
    newer.resume();
    expect(pool.take(OriginPool.key(TARGET))?.origin.conn).toBe('c1');
  });

  it('lets a connection go when the origin closes it, and closes one idle for too long', async () => {
    vi.useFakeTimers();
    try {
      const pool = new OriginPool({ perKey: 4, total: 16, idleMs: 1_000 });
      const closedByOrigin = noted(pool).socket;
      pool.offer(closedByOrigin);
      closedByOrigin.destroy();
      await vi.advanceTimersByTimeAsync(0);
      expect(pool.size).toBe(0);
      const idle = noted(pool).socket;
      pool.offer(idle);
      await vi.advanceTimersByTimeAsync(999);
      expect(idle.destroyed).toBe(false);
      await vi.advanceTimersByTimeAsync(2);
      expect(idle.destroyed).toBe(true);
      expect(pool.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('closes a connection on which the origin sends bytes while it is idle (a 408 before closing, RFC 9112 §9.5)', async () => {
    const pool = new OriginPool({ perKey: 4, total: 16, idleMs: 60_000 });
    const { socket } = noted(pool);
    pool.offer(socket);
    socket.write('HTTP/1.1 408 Request Timeout\r\n\r\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.destroyed).toBe(true);
    expect(pool.take(OriginPool.key(TARGET))).toBeNull();
  });

  it('reads the idle limit an origin announces, and keeps a connection only within it, less a margin', async () => {
    expect(announcedIdleLimitMs('timeout=5')).toBe(5_000);
    expect(announcedIdleLimitMs('timeout=5, max=1000')).toBe(5_000);
    expect(announcedIdleLimitMs('max=1000, Timeout = "30"')).toBe(30_000);
    expect(announcedIdleLimitMs('max=1000')).toBeNull();
    expect(announcedIdleLimitMs(undefined)).toBeNull();
    vi.useFakeTimers();
    try {
      const pool = new OriginPool({ perKey: 4, total: 16, idleMs: 60_000 });
      const soon = noted(pool).socket;
      pool.responseEnded(soon, 'timeout=1');
      expect(pool.offer(soon)).toBe(false);
      const later = noted(pool).socket;
      pool.responseEnded(later, 'timeout=5');
      expect(pool.offer(later)).toBe(true);
      await vi.advanceTimersByTimeAsync(3_900);
      expect(later.destroyed).toBe(false);
      await vi.advanceTimersByTimeAsync(200);
      expect(later.destroyed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps a request that cannot be sent twice off a connection idle for 2 s without an announced limit', async () => {
    // The bound on its own (the plain http:// pool uses it for every request): 2 s, or an announced limit less 1 s.
    expect(idleBoundMs(undefined)).toBe(2_000);
    expect(idleBoundMs('max=100')).toBe(2_000);
    expect(idleBoundMs('timeout=60')).toBe(59_000);
    vi.useFakeTimers();
    try {
      const pool = new OriginPool({ perKey: 4, total: 16, idleMs: 60_000 });
      const silent = noted(pool).socket;
      const announced = noted(pool).socket;
      pool.responseEnded(silent, undefined);
      pool.responseEnded(announced, 'timeout=5');
      await vi.advanceTimersByTimeAsync(1_999);
      expect(pool.tooIdleFor(silent, false)).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(pool.tooIdleFor(silent, false)).toBe(true);
      // A GET can be sent again if the connection fails under it; an announced limit is trusted up to its margin.
      expect(pool.tooIdleFor(silent, true)).toBe(false);
      expect(pool.tooIdleFor(announced, false)).toBe(false);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(pool.tooIdleFor(announced, true)).toBe(true);
      // A response ending starts the idle time afresh; so does opening (note).
      pool.responseEnded(silent, undefined);
      expect(pool.tooIdleFor(silent, false)).toBe(false);
      const opened = noted(pool).socket;
      await vi.advanceTimersByTimeAsync(2_000);
      expect(pool.tooIdleFor(opened, false)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps nothing when its per-key limit is 0 (--no-origin-reuse)', () => {
    const pool = new OriginPool({ perKey: 0, total: 16, idleMs: 60_000 });
    const { socket, origin } = noted(pool);
    expect(pool.offer(socket)).toBe(false);
    expect(origin.endRecording).not.toHaveBeenCalled();
  });
});
