// TLS session resumption towards origins (RFC 8446 §2.2): after one full handshake with an origin, later
// connections resume, which saves both sides the certificate exchange and the origin its signature.
// A resumed handshake carries no certificates (issue: "session resumption hides the peer certificate"), so each
// cached session keeps the chain and the verdict of the full handshake that produced it, and resumed connections
// report those. Bounded, and keyed by everything that decides what the origin would present.
//
// A name seen for the first time may resume a TLS 1.3 session made with another name on the same server (address and
// port), when the certificate of that session is valid for the new name: RFC 8446 §4.6.1 allows exactly that, and a
// server that declines answers with a full handshake. Sibling names under one wildcard certificate (a CDN's hosts)
// then skip the origin's signature and chain from their first connection. Not for TLS 1.2: RFC 6066 §3 has the server
// refuse a resumption whose name differs.

import type { X509Certificate } from 'node:crypto';
import type { UpstreamVerification } from '../protocol/tls.js';

export interface CachedSession {
  /** The serialized session (ticket) from Node's 'session' event. */
  session: Buffer;
  /** The origin's chain and its verdict, from the full handshake. */
  chain: X509Certificate[];
  verification: UpstreamVerification;
  /** The server's address and port (another name may resume the session only on the same server). */
  address: string;
  port: number;
  /** TLS 1.3 sessions only are offered under another name (see above). */
  tls13: boolean;
}

/** Sessions per server kept for other names: the most recent ones with distinct chains. */
const SIBLINGS_PER_SERVER = 8;

export class UpstreamSessions {
  readonly #entries = new Map<string, CachedSession>();
  readonly #byServer = new Map<string, CachedSession[]>();

  constructor(private readonly max = 1_000) {}

  /** Key: where we connect and the name we ask for (the certificate depends on both). */
  static key(host: string, port: number, servername: string | null): string {
    return `${host}|${port}|${servername ?? ''}`;
  }

  get(key: string): CachedSession | undefined {
    return this.#entries.get(key);
  }

  set(key: string, entry: CachedSession): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value!);
    if (entry.tls13 && entry.verification.trusted) this.#keepForSiblings(entry);
  }

  /**
   * A trusted TLS 1.3 session with the server at address:port whose certificate `covers` the name, most recent
   * first, for a name that has no session of its own.
   */
  sibling(address: string, port: number, covers: (entry: CachedSession) => boolean): CachedSession | undefined {
    const kept = this.#byServer.get(`${address}|${port}`) ?? [];
    for (let i = kept.length - 1; i >= 0; i--) if (covers(kept[i]!)) return kept[i];
    return undefined;
  }

  #keepForSiblings(entry: CachedSession): void {
    const server = `${entry.address}|${entry.port}`;
    // One per chain (the newest), so one busy name does not push out the other certificates of the server.
    const kept = (this.#byServer.get(server) ?? []).filter((other) => other.chain[0]?.fingerprint256 !== entry.chain[0]?.fingerprint256);
    kept.push(entry);
    if (kept.length > SIBLINGS_PER_SERVER) kept.shift();
    this.#byServer.delete(server);
    this.#byServer.set(server, kept);
    if (this.#byServer.size > this.max) this.#byServer.delete(this.#byServer.keys().next().value!);
  }

  /** Forgets a session the origin refused to resume, or whose verdict is no longer wanted. */
  delete(key: string): void {
    const entry = this.#entries.get(key);
    this.#entries.delete(key);
    if (!entry) return;
    const server = `${entry.address}|${entry.port}`;
    const kept = this.#byServer.get(server)?.filter((other) => other !== entry);
    if (kept && kept.length > 0) this.#byServer.set(server, kept);
    else this.#byServer.delete(server);
  }
}
