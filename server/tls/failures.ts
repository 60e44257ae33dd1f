// Failure classification: a Node/OpenSSL error (or a timeout we imposed) becomes a cause from a closed list and
// one sentence a student can act on (DESIGN.md §3, "network failures are data"). Pure.

import { constraintsInWords } from '../certs/name-constraints.js';
import type { Leg, TlsFailureCause } from '../protocol/tls.js';

export interface TlsFailure {
  cause: TlsFailureCause;
  message: string;
  /** TLS alert name (RFC 8446 §6) when one was involved, e.g. unknown_ca. */
  alert: string | null;
}

/** What the adapter observed when a leg failed. */
export interface FailureFacts {
  leg: Leg;
  host: string;
  /** error.code from Node (ERR_SSL_…, ECONNRESET, ENOTFOUND…), or one of ours: HANDSHAKE_TIMEOUT, CONNECT_TIMEOUT. */
  code: string | undefined;
  /** The alert the peer sent, if the transcript decoded one (more precise than the error code). */
  peerAlert?: string | null;
  /** The lab CA's NameConstraints in words, when they leave `host` out: then that, not trust, is why it was refused. */
  outsideCaPermit?: readonly string[] | null;
  /** Why the client's SNI is not a valid host name, when it is not: no certificate can name it. */
  invalidSni?: string | null;
  /** The peer's bytes were not TLS records (the transcript could not frame them). */
  notTls?: boolean;
  /** The origin's port, named where the failure is the connection's (a refused or timed-out connect). */
  port?: number;
  /** The origin sent a CertificateRequest (visible in TLS 1.2; TLS 1.3 encrypts it). */
  clientCertRequested?: boolean;
  /** The peer closed its side (TCP FIN) rather than resetting the connection. */
  peerClosed?: boolean;
  /** An alert that mitmlab itself sent (the transcript saw it go out): why mitmlab gave up. */
  sentAlert?: string | null;
  /** The ALPN protocols the client offered, and those mitmlab speaks on its leg. */
  alpn?: { offered: readonly string[]; spoken: readonly string[] };
}

// Alerts a TLS client sends when it does not accept the server's certificate (RFC 8446 §6.2):
// 42 bad_certificate, 46 certificate_unknown, 48 unknown_ca, 49 access_denied. Browsers differ in which one they use.
const CERT_REJECT_ALERTS = new Set(['bad_certificate', 'certificate_unknown', 'unknown_ca', 'access_denied', 'unsupported_certificate', 'certificate_expired', 'certificate_revoked']);

/** Alert name embedded in Node's OpenSSL error code: ERR_SSL_TLSV1_ALERT_UNKNOWN_CA → unknown_ca. */
export function alertFromErrorCode(code: string | undefined): string | null {
  if (!code) return null;
  const match = /_ALERT_([A-Z0-9_]+)$/.exec(code);
  return match ? match[1]!.toLowerCase() : null;
}

/** Classifies a failure on the browser ↔ mitmlab leg. */
export function classifyClientFailure(facts: FailureFacts): TlsFailure {
  const host = facts.host;
  const alert = facts.peerAlert ?? alertFromErrorCode(facts.code);
  const rejected = (alert !== null && CERT_REJECT_ALERTS.has(alert)) || facts.code === 'SILENT_CERT_REJECT';
  if (rejected && facts.invalidSni) {
    return {
      cause: 'cert-rejected',
      alert,
      message: `The client refused mitmlab's certificate for ${JSON.stringify(host.slice(0, 200))}${alert ? ` (alert ${alert})` : ''}: that SNI is not a valid host name (${facts.invalidSni}; RFC 6066 §3), so no certificate can carry it. The lab CA is not the reason.`,
    };
  }
  if (rejected && facts.outsideCaPermit) {
    return {
      cause: 'cert-rejected',
      alert,
      message: `The browser refused mitmlab's certificate for ${host}${alert ? ` (alert ${alert})` : ''}: the lab CA may only vouch for ${constraintsInWords(facts.outsideCaPermit)} (its --ca-permit), and ${host} is outside that. Add it with --passthrough to let it through untouched, or use a CA made for it.`,
    };
  }
  if (alert && CERT_REJECT_ALERTS.has(alert)) {
    return {
      cause: 'cert-rejected',
      alert,
      message: `The browser refused mitmlab's certificate for ${host} (alert ${alert}): it does not trust the lab CA — which is exactly what protects you when a CA isn't trusted.`,
    };
  }
  const code = facts.code ?? '';
  if (code === 'NOT_TLS_AFTER_HELLO') {
    return {
      cause: 'unknown',
      alert: null,
      message: `The client sent bytes that are not TLS records after its ClientHello for ${host}; mitmlab closed the connection.`,
    };
  }
  if (code === 'CLIENT_HANGUP') {
    return {
      cause: 'reset',
      alert: null,
      message: `The client hung up on ${host} in the middle of the TLS handshake, without an alert.`,
    };
  }
  if (code === 'SILENT_CERT_REJECT') {
    return {
      cause: 'cert-rejected',
      alert: null,
      message: `The browser refused mitmlab's certificate for ${host}: it closed the connection right after seeing it, without an alert (Chromium's way) — it does not trust the lab CA, which is exactly what protects you when a CA isn't trusted.`,
    };
  }
  if (code === 'ERR_SSL_NO_SHARED_CIPHER' || alert === 'handshake_failure' || alert === 'insufficient_security') {
    return {
      cause: 'no-shared-cipher',
      alert: alert ?? facts.sentAlert ?? null,
      message: `The client and mitmlab share no cipher suite for ${host}, so no TLS connection could be made.`,
    };
  }
  if (/UNSUPPORTED_PROTOCOL|WRONG_VERSION|VERSION_TOO_LOW|VERSION_TOO_HIGH/.test(code) || alert === 'protocol_version') {
    return {
      cause: 'version-mismatch',
      alert: alert ?? facts.sentAlert ?? null,
      message: `The client and mitmlab support no common TLS version for ${host}.`,
    };
  }
  if (code === 'HANDSHAKE_TIMEOUT') {
    return {
      cause: 'handshake-timeout',
      alert: null,
      message: `The client opened a TLS connection for ${host} but did not finish the handshake in time.`,
    };
  }
  if (code === 'CLOSED_AFTER_HANDSHAKE') {
    return {
      cause: 'closed-after-handshake',
      alert: null,
      message: `The client finished the TLS handshake for ${host} and then closed without sending a request: it probably rejected the certificate silently (for example certificate pinning).`,
    };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return { cause: 'reset', alert, message: `The client reset the connection to ${host} during the TLS handshake.` };
  }
  if (code === 'ERR_SSL_NO_APPLICATION_PROTOCOL' || alert === 'no_application_protocol') {
    const offered = facts.alpn?.offered.length ? facts.alpn.offered.map((p) => JSON.stringify(p).slice(0, 60)).join(', ') : 'none mitmlab speaks';
    return {
      cause: 'unknown',
      alert: alert ?? facts.sentAlert ?? 'no_application_protocol',
      message: `The client offered only application protocols mitmlab does not speak for ${host} (ALPN ${offered}; mitmlab speaks ${facts.alpn?.spoken.join(' and ') ?? 'HTTP/1.x'} on this leg), so the handshake ended with no_application_protocol (RFC 7301 §3.2).`,
    };
  }
  if (code === 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM') {
    return {
      cause: 'no-shared-cipher',
      alert: alert ?? facts.sentAlert ?? null,
      message: `The client accepts no signature algorithm that mitmlab's certificate for ${host} can sign with (its signature_algorithms extension, RFC 8446 §4.2.3), so no TLS connection could be made.`,
    };
  }
  return {
    cause: 'unknown',
    alert: alert ?? facts.sentAlert ?? null,
    message: `The TLS handshake with the client for ${host} failed${alert ? ` (alert ${alert})` : ''}${code ? ` [${code}]` : ''}.`,
  };
}

/** Classifies a failure on the mitmlab ↔ origin leg (before or during the handshake). */
export function classifyUpstreamFailure(facts: FailureFacts): TlsFailure {
  const host = facts.host;
  const code = facts.code ?? '';
  if (code === 'SELF_TEST_PROBE') {
    return { cause: 'upstream-unreachable', alert: null, message: `${host} is the live view's self-test probe: it has no origin, so the browser gets mitmlab's error page (nothing was looked up).` };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NONAME') {
    return { cause: 'upstream-dns', alert: null, message: `mitmlab could not resolve ${host}: no such host in DNS.` };
  }
  if (code === 'LOCAL_REFUSED') {
    return { cause: 'upstream-unreachable', alert: null, message: `mitmlab refused to connect to ${host}: it is on the machine mitmlab runs on, and this client is on another machine (--resolve can offer it on purpose).` };
  }
  // A wrong port is a common reason: say which one was tried.
  const endpoint = facts.port === undefined || host.endsWith(`:${facts.port}`) ? host : `${host} on port ${facts.port}`;
  if (code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return { cause: 'upstream-unreachable', alert: null, message: `mitmlab could not reach ${endpoint}: the connection timed out.` };
  }
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') {
    return { cause: 'upstream-unreachable', alert: null, message: `mitmlab could not reach ${endpoint}: the connection was refused or the network is unreachable (${code}).` };
  }
  // OpenSSL calls a reply that is not TLS at all a "wrong version number"; the transcript knows better.
  if (facts.notTls && code !== 'HANDSHAKE_TIMEOUT') {
    return {
      cause: 'unknown',
      alert: null,
      message: `The origin ${host} did not answer with TLS: what it sent is not a TLS record (perhaps plain HTTP, or another protocol, on that port).`,
    };
  }
  const alert = facts.peerAlert ?? alertFromErrorCode(code);
  if (alert && (facts.clientCertRequested || alert === 'certificate_required')) {
    return {
      cause: 'upstream-alert',
      alert,
      message: facts.clientCertRequested
        ? `The origin ${host} requires a client certificate (it asked for one, then sent the alert ${alert}), and mitmlab has none to present: a site that authenticates clients by certificate cannot be intercepted.`
        : `The origin ${host} requires a client certificate (it sent the alert ${alert}), and mitmlab has none to present: a site that authenticates clients by certificate cannot be intercepted. In TLS 1.3 the request for it is encrypted, so until then the handshake looked complete.`,
    };
  }
  if (alert) {
    const known = UPSTREAM_ALERTS[alert];
    if (known) return { cause: known.cause, alert, message: known.message(host) };
    return { cause: 'upstream-alert', alert, message: `The origin ${host} ended the TLS handshake with the alert ${alert}.` };
  }
  if (code === 'ERR_SSL_NO_SHARED_CIPHER') {
    return { cause: 'no-shared-cipher', alert: facts.sentAlert ?? null, message: `mitmlab and the origin ${host} share no cipher suite.` };
  }
  if (/UNSUPPORTED_PROTOCOL|WRONG_VERSION|VERSION_TOO_LOW|VERSION_TOO_HIGH/.test(code)) {
    return { cause: 'version-mismatch', alert: facts.sentAlert ?? null, message: `mitmlab and the origin ${host} support no common TLS version.` };
  }
  if (code === 'HANDSHAKE_TIMEOUT') {
    return { cause: 'handshake-timeout', alert: null, message: `The origin ${host} did not finish the TLS handshake in time.` };
  }
  if ((code === 'ECONNRESET' || code === 'EPIPE') && facts.peerClosed) {
    return { cause: 'reset', alert: null, message: `The origin ${host} closed the connection in the middle of the TLS handshake, without an alert.` };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return { cause: 'reset', alert: null, message: `The origin ${host} reset the connection during the TLS handshake.` };
  }
  return { cause: 'unknown', alert: null, message: `The TLS handshake with the origin ${host} failed${code ? ` [${code}]` : ''}.` };
}

/** Alerts an origin sends during the handshake, in words (RFC 8446 §6.2, RFC 6066 §3, RFC 7301 §3.2). */
const UPSTREAM_ALERTS: Record<string, { cause: TlsFailureCause; message: (host: string) => string }> = {
  protocol_version: {
    cause: 'version-mismatch',
    message: (host) => `The origin ${host} accepts none of the TLS versions mitmlab offers, 1.2 and 1.3 (it sent the alert protocol_version): it probably speaks only an old version such as TLS 1.0 or 1.1.`,
  },
  handshake_failure: {
    cause: 'no-shared-cipher',
    message: (host) => `The origin ${host} found nothing it accepts in mitmlab's ClientHello (it sent the alert handshake_failure): most often no cipher suite or key-exchange group in common.`,
  },
  insufficient_security: {
    cause: 'no-shared-cipher',
    message: (host) => `The origin ${host} wants stronger cipher suites than mitmlab offers (it sent the alert insufficient_security).`,
  },
  unrecognized_name: {
    cause: 'upstream-alert',
    message: (host) => `The origin does not serve the name ${host} (it sent the alert unrecognized_name for that SNI).`,
  },
  no_application_protocol: {
    cause: 'upstream-alert',
    message: (host) => `The origin ${host} speaks none of the application protocols mitmlab offers (it sent the alert no_application_protocol): mitmlab speaks HTTP/1.1 to origins, and this one probably accepts only HTTP/2.`,
  },
};
