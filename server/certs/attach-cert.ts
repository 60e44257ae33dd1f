// A SecureContext in two steps: the key first, the certificate chain later. tls.createSecureContext takes both at
// once, which forces the (slow) key parse to wait for the certificate, and so for its signature. Node's native
// SecureContext has setCert, the method createSecureContext itself calls for `cert`
// (lib/internal/tls/secure-context.js); it is not public API, so it is feature-checked once, and without it the
// caller builds the context the documented way.
//
// Safety: OpenSSL's SSL_CTX_use_certificate keeps an already-set private key only when it matches the certificate
// (ssl/ssl_rsa.c ssl_set_cert), and every leaf carries the one leaf key, so the pair always matches; the check is
// OpenSSL's, not ours. Each context is fresh and gets exactly one chain: no context is ever changed once in use.

import crypto from 'node:crypto';
import tls from 'node:tls';

interface NativeContext {
  setCert?: (pem: string) => void;
}

let supported: boolean | null = null;

/**
 * Options for every minted context. HTTP/1.1 clients never need TLS 1.2 renegotiation, and mitmlab's hand-built
 * server TLSSockets do not get Node's CLIENT_RENEG_LIMIT: refusing it outright stops a client from making mitmlab
 * sign handshakes in a loop (OpenSSL answers a no_renegotiation warning and the connection carries on).
 */
export const LEAF_SECURE_OPTIONS = crypto.constants.SSL_OP_NO_RENEGOTIATION;

function nativeOf(context: tls.SecureContext): NativeContext | undefined {
  return (context as unknown as { context?: NativeContext }).context;
}

/** A new context holding only the private key, or null when this Node cannot add the chain afterwards. */
export function keyedContext(keyPem: string): tls.SecureContext | null {
  // ca: [] — a server context needs no trust store; without it Node attaches its root store to every context.
  const context = tls.createSecureContext({ key: keyPem, secureOptions: LEAF_SECURE_OPTIONS, ca: [] });
  supported ??= typeof nativeOf(context)?.setCert === 'function';
  return supported ? context : null;
}

/** Adds the certificate chain (leaf first) to a keyed context; false when it could not. */
export function attachChain(context: tls.SecureContext, chainPem: string): boolean {
  const native = nativeOf(context);
  if (typeof native?.setCert !== 'function') return false;
  native.setCert(chainPem);
  return true;
}
