// The upstream side of one intercepted browser connection: one origin connection at a time, reused across the
// browser's keep-alive requests (RFC 9112 §9.3), reopened (and re-verified) when the origin closed it.
// Lighter than an http.Agent: there is exactly one socket to hand out. When the browser connection closes, its idle
// origin connection is handed on (`retire`, to the origin pool) instead of being closed.

import type { Duplex } from 'node:stream';

/** Opens a new verified connection to the origin; `sslMs` is the TLS handshake's share of the time it took. */
export type OpenUpstream = () => Promise<{ socket: Duplex; sslMs: number }>;

/** What the last acquire() spent opening a connection, ms; -1 when it reused one (HAR 1.2 timings). */
export interface ConnectTimes {
  /** DNS + TCP + TLS. */
  connect: number;
  /** The TLS handshake, included in `connect`. */
  ssl: number;
}

export const REUSED: ConnectTimes = { connect: -1, ssl: -1 };

/** Origin connections that have answered a request and were kept for the next (in any lane, or the origin pool). */
const kept = new WeakSet<Duplex>();

/** True when `socket` answered an earlier request and was kept alive since: the origin may have closed it meanwhile. */
export function keptAlive(socket: Duplex): boolean {
  return kept.has(socket);
}

function usable(socket: Duplex): boolean {
  return !socket.destroyed && socket.writable && socket.readable;
}

function ignoreError(): void {
  // An idle socket can still see the origin reset it; the next acquire() notices it is gone.
}

export class UpstreamLane {
  #idle: Duplex | null = null;
  /** The socket a request holds right now (closed with the lane if the browser goes away). */
  #lent: Duplex | null = null;
  #busy = false;
  #closed = false;
  readonly #waiters: Array<() => void> = [];
  lastConnect: ConnectTimes = REUSED;

  constructor(
    private readonly open: OpenUpstream,
    first: Duplex | null,
    /** Takes the idle connection when the lane closes (it keeps or closes it). */
    private readonly retire: (socket: Duplex) => void,
    /**
     * True when the idle connection has been idle too long for the next request (OriginPool.tooIdleFor): a new one is
     * opened instead, so that the request does not cross the origin's close. `resendable` says whether the request
     * could be sent again if it did.
     */
    private readonly expired: (socket: Duplex, resendable: boolean) => boolean,
  ) {
    if (first) this.#park(first);
  }

  /**
   * The idle socket, synchronously, when there is one and nobody holds the lane: the common keep-alive case. The
   * request's `resendable` (upstream-request.ts) decides how long the socket may have been idle.
   */
  tryAcquire(resendable: boolean): Duplex | null {
    if (this.#busy || this.#closed || !this.#idle) return null;
    const idle = this.#unpark(resendable);
    if (!idle) return null;
    this.#busy = true;
    this.lastConnect = REUSED;
    this.#lent = idle;
    return idle;
  }

  /** Waits for the lane, then hands out the idle socket or a freshly opened one. */
  async acquire(resendable: boolean): Promise<Duplex> {
    while (this.#busy && !this.#closed) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (this.#closed) throw Object.assign(new Error('the browser connection closed'), { code: 'ECONNRESET' });
    this.#busy = true;
    const idle = this.#unpark(resendable);
    if (idle) {
      this.lastConnect = REUSED;
      this.#lent = idle;
      return idle;
    }
    return this.#openForHolder();
  }

  /**
   * A new connection for the request that holds the lane, in place of the lent one, which failed: the lane stays held,
   * so requests waiting for it keep their order. When it cannot be opened, the lane is released.
   */
  reopen(): Promise<Duplex> {
    this.#lent?.destroy();
    this.#lent = null;
    return this.#openForHolder();
  }

  async #openForHolder(): Promise<Duplex> {
    const started = performance.now();
    try {
      if (this.#closed) throw Object.assign(new Error('the browser connection closed'), { code: 'ECONNRESET' });
      const { socket, sslMs } = await this.open();
      this.lastConnect = { connect: performance.now() - started, ssl: sslMs };
      if (this.#closed) {
        socket.destroy();
        throw Object.assign(new Error('the browser connection closed'), { code: 'ECONNRESET' });
      }
      this.#lent = socket;
      return socket;
    } catch (error) {
      this.lastConnect = { connect: performance.now() - started, ssl: -1 };
      this.#next();
      throw error;
    }
  }

  /** Returns the lane after a response: the socket is kept for the next request when it is still usable. */
  release(socket: Duplex | null, reusable: boolean): void {
    if (socket === this.#lent) this.#lent = null;
    if (socket && reusable) kept.add(socket);
    if (socket) {
      if (reusable && usable(socket) && !this.#closed) this.#park(socket);
      else socket.destroy();
    }
    this.#next();
  }

  /** Takes the idle socket for good (a WebSocket relay owns it from then on). */
  takeIdle(): Duplex | null {
    // A WebSocket upgrade is never sent twice (ws-relay.ts), so it goes by the bound for such requests.
    return this.#busy ? null : this.#unpark(false);
  }

  /** Retires the idle socket and refuses further use; the browser connection is gone. */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Retired as it is: the pool keeps it only within the origin's announced limit, and the next taker checks it again.
    const idle = this.#idle;
    this.#idle = null;
    if (idle) {
      idle.off('error', ignoreError);
      this.retire(idle);
    }
    this.#lent?.destroy();
    this.#lent = null;
    // Waiters wake, see the lane closed and fail their request; none is left hanging.
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  #park(socket: Duplex): void {
    socket.on('error', ignoreError);
    this.#idle = socket;
  }

  /**
   * The idle socket for the next request, or null when there is none or it is no longer fit (it is closed then).
   * `resendable` is the request's (upstream-request.ts); it holds only on a socket that answered a request before,
   * since only such a one is resent on when it fails (upstream-attempt.ts, #retryOnFresh).
   */
  #unpark(resendable: boolean): Duplex | null {
    const idle = this.#idle;
    this.#idle = null;
    if (!idle) return null;
    idle.off('error', ignoreError);
    if (usable(idle) && !this.expired(idle, resendable && kept.has(idle))) return idle;
    idle.destroy();
    return null;
  }

  #next(): void {
    this.#busy = false;
    this.#waiters.shift()?.();
  }
}
