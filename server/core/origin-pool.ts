// Verified origin connections kept after the browser connection that used them closed, for the next browser
// connection to the same origin (RFC 9112 §9.3: connections are persistent per hop, and a proxy may hand a persistent
// origin connection to any of its clients). A browser opens a connection per request batch, and each would otherwise
// cost a new TLS handshake with the origin.
//
// Pooled per origin, name (SNI) and browser address: a connection is only ever reused for the same client machine,
// because some origins tie state to a connection (NTLM and Negotiate authentication, RFC 4559 §6), and for the name it
// was verified for. Bounded in count; closed after --idle-timeout, or short of the idle limit the origin announces.
// The record of the browser connection that opened it ends when that connection closes (endRecording).

import type { X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { ConnId } from '../protocol/events.js';
import type { UpstreamVerification } from '../protocol/tls.js';

/** What an origin connection was verified as, and which browser connection's handshake opened it. */
export interface OriginConnection {
  /** The pool key (see OriginPool.key). */
  key: string;
  /** The connection whose record holds this origin connection's handshake and transcript. */
  conn: ConnId;
  chain: X509Certificate[];
  verification: UpstreamVerification;
  /**
   * Ends the opening connection's record of this origin connection (its transcript is written now, and later bytes
   * are not recorded): that connection closed, and its record is complete when it closes.
   */
  endRecording(): void;
}

export interface OriginPoolLimits {
  /** Idle connections kept per key. */
  perKey: number;
  /** Idle connections kept in all. */
  total: number;
  /** An idle connection is closed after this long. */
  idleMs: number;
}

interface Parked {
  socket: Duplex;
  timer: NodeJS.Timeout;
  evict: () => void;
}

/**
 * Kept this much short of the idle limit an origin announces: its clock starts when it sent the response's end, ours
 * a little later, and a request sent just as it closes would get a reset (and the browser a 502).
 */
const ANNOUNCED_LIMIT_MARGIN_MS = 1_000;
/**
 * Where the origin announced no idle limit, a request that would not be sent again (resendable() in
 * upstream-request.ts, and only on a connection that answered before: UpstreamLane; every plain http:// request:
 * PlainAgent) goes on a connection idle for less than this, or else on a new one: a request that crosses the origin's
 * silent close fails before any answer, and the browser would get a 502 for a form it posted. Origins that close idle connections
 * without announcing it commonly wait seconds to minutes (nginx's keepalive_timeout is 75 s); the cost is one origin
 * handshake for such a request after a pause. 2 s is also how long Apache HttpClient lets a pooled connection sit
 * before it checks it again (validateAfterInactivity).
 */
const UNANNOUNCED_IDLE_MS = 2_000;
/** A connection with less time left than this is not worth keeping. */
const MIN_LEFT_MS = 250;

/**
 * The idle limit an origin announces in `Keep-Alive: timeout=N` (RFC 2068 §19.7.1.1; Node and Apache servers send
 * it), in ms; null when there is none.
 */
export function announcedIdleLimitMs(value: string | undefined): number | null {
  const match = value === undefined ? null : /(?:^|[,;\s])timeout\s*=\s*"?(\d{1,6})"?/i.exec(value);
  return match ? Number(match[1]) * 1000 : null;
}

/**
 * How long a connection may sit idle, after a response with this `Keep-Alive` field value (or none), before a request
 * that cannot be sent twice should no longer go on it: the announced limit less the margin, or UNANNOUNCED_IDLE_MS.
 */
export function idleBoundMs(keepAlive: string | undefined): number {
  const limit = announcedIdleLimitMs(keepAlive);
  return limit === null ? UNANNOUNCED_IDLE_MS : limit - ANNOUNCED_LIMIT_MARGIN_MS;
}

function usable(socket: Duplex): boolean {
  return !socket.destroyed && socket.writable && socket.readable;
}

function ignoreError(): void {
  // An idle connection can still be reset by the origin; its 'close' takes it out of the pool.
}

/**
 * An origin sends nothing on an idle connection but, at most, a response before closing it (a 408, RFC 9112 §9.5).
 * Such bytes would be read as the answer to the next request sent on it: the connection is closed instead.
 */
function dropUnsolicited(this: Duplex): void {
  this.destroy();
}

export class OriginPool {
  readonly #known = new WeakMap<Duplex, OriginConnection>();
  /** performance.now() past which the origin may close the connection (from its Keep-Alive announcement). */
  readonly #closesAt = new WeakMap<Duplex, number>();
  /** performance.now() since which the connection has been idle: it was opened, or its last response ended. */
  readonly #idleSince = new WeakMap<Duplex, number>();
  readonly #idle = new Map<string, Parked[]>();
  #count = 0;

  constructor(private readonly limits: OriginPoolLimits) {}

  /** The key of an origin: its address and port, the name sent and checked, and the browser's address. */
  static key(target: { host: string; port: number; servername: string | null; from: string }): string {
    return `${target.host}\n${target.port}\n${target.servername ?? ''}\n${target.from}`;
  }

  /** Remembers what a newly opened and verified origin connection is, so it can be pooled later. */
  note(socket: Duplex, origin: OriginConnection): void {
    this.#known.set(socket, origin);
    this.#idleSince.set(socket, performance.now());
  }

  /**
   * A response on `socket` just ended, with this `Keep-Alive` field value (or none): an announced idle limit bounds
   * how long the connection may be kept from now on. The idle time starts now, when mitmlab read the response's end;
   * a browser that reads slowly holds that back, so it counts short by as long as the origin's last bytes waited.
   */
  responseEnded(socket: Duplex, keepAlive: string | undefined): void {
    const now = performance.now();
    const limit = announcedIdleLimitMs(keepAlive);
    this.#idleSince.set(socket, now);
    if (limit === null) this.#closesAt.delete(socket);
    else this.#closesAt.set(socket, now + limit - ANNOUNCED_LIMIT_MARGIN_MS);
  }

  /**
   * True when idle `socket` should not carry the next request, because the origin may close it any moment now and the
   * request would cross that close, failing before any answer: it has been idle for the limit its origin announced,
   * less the margin; or, when none was announced and the request cannot be sent again (`resendable` false), for
   * UNANNOUNCED_IDLE_MS. A new connection is opened instead.
   */
  tooIdleFor(socket: Duplex, resendable: boolean): boolean {
    const now = performance.now();
    const closesAt = this.#closesAt.get(socket);
    if (closesAt !== undefined) return now >= closesAt;
    const idleSince = this.#idleSince.get(socket);
    return !resendable && idleSince !== undefined && now - idleSince >= UNANNOUNCED_IDLE_MS;
  }

  /**
   * Keeps an idle origin connection for a later browser connection. False when it cannot be kept (unknown, no longer
   * usable, or the pool is full): the caller closes it.
   */
  offer(socket: Duplex): boolean {
    const origin = this.#known.get(socket);
    if (!origin || !usable(socket) || this.#count >= this.limits.total) return false;
    const parked = this.#idle.get(origin.key) ?? [];
    if (parked.length >= this.limits.perKey) return false;
    const closesAt = this.#closesAt.get(socket);
    const left = closesAt === undefined ? this.limits.idleMs : Math.min(this.limits.idleMs, closesAt - performance.now());
    if (left < MIN_LEFT_MS) return false;
    const entry: Parked = {
      socket,
      timer: setTimeout(() => socket.destroy(), left).unref(),
      evict: () => this.#remove(origin.key, entry),
    };
    socket.on('error', ignoreError);
    socket.on('data', dropUnsolicited);
    // The origin closing it (its own idle timeout) ends the TLS socket: it leaves the pool then, not at its next use.
    socket.once('close', entry.evict);
    socket.once('end', entry.evict);
    parked.push(entry);
    this.#idle.set(origin.key, parked);
    this.#count++;
    origin.endRecording();
    return true;
  }

  /** The most recently parked idle connection for `key` that is still usable, taken out of the pool. */
  take(key: string): { socket: Duplex; origin: OriginConnection } | null {
    const parked = this.#idle.get(key);
    while (parked && parked.length > 0) {
      const entry = parked[parked.length - 1]!;
      this.#remove(key, entry);
      if (!usable(entry.socket)) {
        entry.socket.destroy();
        continue;
      }
      return { socket: entry.socket, origin: this.#known.get(entry.socket)! };
    }
    return null;
  }

  /** Idle connections held now. */
  get size(): number {
    return this.#count;
  }

  #remove(key: string, entry: Parked): void {
    const parked = this.#idle.get(key);
    const at = parked?.indexOf(entry) ?? -1;
    if (!parked || at < 0) return;
    parked.splice(at, 1);
    if (parked.length === 0) this.#idle.delete(key);
    this.#count--;
    clearTimeout(entry.timer);
    entry.socket.off('close', entry.evict);
    entry.socket.off('end', entry.evict);
    entry.socket.off('error', ignoreError);
    entry.socket.off('data', dropUnsolicited);
  }
}
