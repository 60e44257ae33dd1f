// The tls-established event of either leg, read off a finished TLSSocket.

import type tls from 'node:tls';
import type { EventOf } from '../protocol/events.js';
import type { Leg } from '../protocol/tls.js';
import { groupName } from '../tls/iana.js';

export interface LegFacts {
  conn: string;
  leg: Leg;
  sni: string | null;
  /** IANA group code from the ServerHello, when Node cannot tell (the server side). */
  serverHelloGroup?: number | null;
  connectMs: number | null;
  handshakeMs: number;
}

// Key-exchange sizes in bits as OpenSSL reports them, for the server side where Node gives no getEphemeralKeyInfo.
const GROUP_BITS: Record<string, number> = { x25519: 253, x448: 448, secp256r1: 256, secp384r1: 384, secp521r1: 521 };
// OpenSSL's names for groups whose IANA name differs (RFC 8446 §4.2.7 names).
const OPENSSL_GROUPS: Record<string, number> = { X25519: 29, X448: 30, prime256v1: 23, secp384r1: 24, secp521r1: 25 };

/** Builds the event from what the socket negotiated. */
export function establishedEvent(socket: tls.TLSSocket, facts: LegFacts): EventOf<'tls-established'> {
  const cipher = socket.getCipher();
  let group: string | null = null;
  let groupBits: number | null = null;
  if (facts.serverHelloGroup !== undefined) {
    group = facts.serverHelloGroup === null ? null : groupName(facts.serverHelloGroup);
    groupBits = group ? (GROUP_BITS[group] ?? null) : null;
  } else {
    const key = socket.getEphemeralKeyInfo();
    if (key && 'name' in key && key.name) {
      const code = OPENSSL_GROUPS[key.name];
      group = code !== undefined ? groupName(code) : key.name;
    }
    groupBits = key && 'size' in key && typeof key.size === 'number' ? key.size : null;
  }
  return {
    type: 'tls-established',
    conn: facts.conn,
    leg: facts.leg,
    version: socket.getProtocol() ?? 'unknown',
    // Node gives the IANA standard name next to OpenSSL's.
    cipher: cipher.standardName || cipher.name,
    alpn: socket.alpnProtocol || null,
    sni: facts.sni,
    resumed: socket.isSessionReused(),
    group,
    groupBits,
    sharedSigalgs: socket.getSharedSigalgs(),
    connectMs: facts.connectMs,
    handshakeMs: facts.handshakeMs,
    at: Date.now(),
  };
}
