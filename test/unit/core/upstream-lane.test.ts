// What the lane asks before it hands its idle origin connection to a request (OriginPool.tooIdleFor decides): whether
// that request could be sent again should the connection fail under it.

import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { UpstreamLane } from '../../../server/core/upstream-lane.js';

function lane(first: PassThrough, expired = vi.fn(() => false), retire = vi.fn()) {
  const open = vi.fn(async () => ({ socket: new PassThrough(), sslMs: 0 }));
  return { lane: new UpstreamLane(open, first, retire, expired), expired, retire, open };
}

describe('UpstreamLane', () => {
  it('counts a request as resendable only on a connection that answered one before (only there is it sent again)', () => {
    const socket = new PassThrough();
    const { lane: l, expired } = lane(socket);
    expect(l.tryAcquire(true)).toBe(socket);
    expect(expired).toHaveBeenLastCalledWith(socket, false);
    l.release(socket, true);
    expect(l.tryAcquire(true)).toBe(socket);
    expect(expired).toHaveBeenLastCalledWith(socket, true);
    l.release(socket, true);
    expect(l.tryAcquire(false)).toBe(socket);
    expect(expired).toHaveBeenLastCalledWith(socket, false);
  });

  it('treats a WebSocket upgrade as a request that is not sent twice', () => {
    const socket = new PassThrough();
    const { lane: l, expired } = lane(socket);
    l.release(l.tryAcquire(true), true);
    expect(l.takeIdle()).toBe(socket);
    expect(expired).toHaveBeenLastCalledWith(socket, false);
  });

  it('opens a new connection instead of one that is too idle, and closes that one', async () => {
    const socket = new PassThrough();
    const { lane: l, open } = lane(socket, vi.fn(() => true));
    expect(l.tryAcquire(false)).toBeNull();
    expect(socket.destroyed).toBe(true);
    const fresh = await l.acquire(false);
    expect(fresh).not.toBe(socket);
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('retires its idle connection as it is when the browser connection closes: the pool and the next taker judge it', () => {
    const socket = new PassThrough();
    const { lane: l, expired, retire } = lane(socket, vi.fn(() => true));
    l.destroy();
    expect(retire).toHaveBeenCalledWith(socket);
    expect(expired).not.toHaveBeenCalled();
  });
});
