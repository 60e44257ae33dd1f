// TLS session resumption towards origins (RFC 8446 §2.2): after one full handshake with an origin, later
// connections resume, which saves both sides the certificate exchange and the origin its signature.
// A resumed handshake carries no certificates (issue: "session resumption hides the peer certificate"), so each
// cached session keeps the chain and the verdict of the full handshake that produced it, and resumed connections
// report those. Bounded, and keyed by everything that decides what the origin would present.

import type { X509Certificate } from 'node:crypto';
import type { UpstreamVerification } from '../protocol/tls.js';

export interface CachedSession {
  /** The serialized session (ticket) from Node's 'session' event. */
  session: Buffer;
  /** The origin's chain and its verdict, from the full handshake. */
  chain: X509Certificate[];
  verification: UpstreamVerification;
}

export class UpstreamSessions {
  readonly #entries = new Map<string, CachedSession>();

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
  }

  /** Forgets a session the origin refused to resume, or whose verdict is no longer wanted. */
  delete(key: string): void {
    this.#entries.delete(key);
  }
}
