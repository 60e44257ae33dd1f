// Which leaf key a client gets, from its ClientHello: EC P-256 when the client can take it, RSA otherwise.
//
// Why two keys: the browser's handshake is signed with the leaf key, on the event loop, once per connection. An
// RSA-2048 signature costs ~0.9 ms here and an ECDSA P-256 one ~0.04 ms (`openssl speed`), but clients limited to
// RSA suites cannot use an EC certificate. So mitmlab decides per connection and hands OpenSSL a context holding
// that one certificate: what the event log says the browser was shown is then exactly what it was shown.
//
// The rule follows what a TLS server may send:
// - the client must list ecdsa_secp256r1_sha256 in signature_algorithms (RFC 8446 §4.2.3; RFC 5246 §7.4.1.4.1 for
//   TLS 1.2, where the same code point means SHA-256 with ECDSA);
// - when both sides can do TLS 1.3, that is all (the cipher suite names no key type there: RFC 8446 §4.4.2.2);
// - otherwise TLS 1.2 is negotiated, and the client must also offer an ECDHE_ECDSA suite, and list P-256 if it lists
//   curves at all (RFC 8422 §5.1: the server's ECDSA key must be on one of the client's curves). This assumes Node's
//   default cipher list, which enables the suites below; a --tls-cipher-list without them needs --leaf-key rsa.

import type { ClientHello } from '../protocol/tls.js';
import type { KeyType } from './sign.js';

/** ecdsa_secp256r1_sha256 (RFC 8446 §4.2.3). */
const ECDSA_SECP256R1_SHA256 = 0x0403;
const TLS13 = 0x0304;
/** secp256r1 in supported_groups (RFC 8422 §5.1.1). */
const SECP256R1 = 23;
/** The TLS_ECDHE_ECDSA_* suites OpenSSL enables by default (IANA TLS Cipher Suites registry). */
const ECDHE_ECDSA_SUITES = new Set([
  0xc009, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
  0xc00a, // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
  0xc023, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
  0xc024, // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384
  0xc02b, // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  0xc02c, // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
  0xcca9, // TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
]);

/**
 * The leaf key type to serve this client: 'ec' when it can verify an EC P-256 certificate, else 'rsa'. `server.tls13`
 * says whether mitmlab's side allows TLS 1.3 (Node's tls.DEFAULT_MAX_VERSION, which --tls-max-v1.2 lowers).
 */
export function leafKeyTypeFor(hello: ClientHello, server: { tls13: boolean }): KeyType {
  if (!hello.signatureAlgorithms.includes(ECDSA_SECP256R1_SHA256)) return 'rsa';
  if (server.tls13 && hello.supportedVersions.includes(TLS13)) return 'ec';
  const curveOk = hello.supportedGroups.length === 0 || hello.supportedGroups.includes(SECP256R1);
  return curveOk && hello.cipherSuites.some((suite) => ECDHE_ECDSA_SUITES.has(suite)) ? 'ec' : 'rsa';
}
