// What the browser is told when mitmlab cannot give it the origin's answer: a status, a title and one sentence.
// Pure mapping from the coded errors of destination.ts / upstream-tls.ts.

import type { ProxyErrorCode } from '../protocol/events.js';
import { classifyUpstreamFailure, type FailureFacts } from '../tls/failures.js';
import type { ErrorAnswer } from './error-page.js';

export interface FailureAnswer extends ErrorAnswer {
  code: ProxyErrorCode;
}

/** An Error with a code and, for untrusted certificates, the reason in words. */
export interface CodedError {
  code?: string;
  message?: string;
  reason?: string;
}

/** The facts an upstream error carries for its classification (set by upstream-tls.ts on handshake failures). */
export function upstreamFailureFacts(error: unknown): Omit<FailureFacts, 'leg' | 'host'> {
  const e = (error ?? {}) as CodedError & Partial<Omit<FailureFacts, 'leg' | 'host' | 'code'>>;
  return {
    code: e.code,
    peerAlert: e.peerAlert ?? null,
    sentAlert: e.sentAlert ?? null,
    notTls: e.notTls === true,
    clientCertRequested: e.clientCertRequested === true,
    peerClosed: e.peerClosed === true,
  };
}

/**
 * Maps an upstream failure to the answer the browser gets (502, 504 or 403). `phase` says when it happened: while
 * reaching the origin (DNS, TCP, TLS handshake), or during an exchange on a connection already made.
 */
export function failureAnswer(host: string, port: number, error: unknown, phase: 'connect' | 'exchange' = 'connect'): FailureAnswer {
  const e = (error ?? {}) as CodedError;
  const code = e.code ?? '';
  const bracketed = host.includes(':') ? `[${host}]` : host;
  const where = port === 443 || port === 80 ? bracketed : `${bracketed}:${port}`;
  if (code === 'LOOP_REFUSED') {
    return {
      code: 'loop-refused',
      status: 403,
      title: 'Refused: request to mitmlab itself',
      detail: `${where} is one of mitmlab's own ports. mitmlab does not forward requests to itself (that would loop, or expose the live view through the proxy).`,
    };
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      code: 'upstream-bad-response',
      status: 502,
      title: `${where} sent a response head that is too large`,
      detail: `${where} answered with a response head larger than 256 KiB, more than a browser accepts; mitmlab does not forward it.`,
    };
  }
  if (code === 'UNSENDABLE_REQUEST') {
    return {
      code: 'bad-request',
      status: 400,
      title: 'A request mitmlab cannot forward',
      detail: `mitmlab cannot forward this request to ${where}: ${e.message ?? 'Node refused to write it'}.`,
    };
  }
  if (code === 'SELF_TEST_PROBE') {
    return {
      code: 'upstream-unreachable',
      status: 502,
      title: "mitmlab's self-test probe",
      detail: classifyUpstreamFailure({ leg: 'upstream', host, code }).message,
    };
  }
  if (code === 'LOCAL_REFUSED') {
    return {
      code: 'local-refused',
      status: 403,
      title: "Refused: a service on mitmlab's own machine",
      detail: `${where} is on the machine mitmlab runs on. A client on another machine may not reach that machine's own services through mitmlab; to offer one on purpose, name it with --resolve NAME:ADDRESS.`,
    };
  }
  if (code.startsWith('HPE_') || code === 'UNSOLICITED_UPGRADE') {
    // llhttp's codes (HPE_*) mean the origin answered, but not with HTTP/1.1 that can be forwarded safely.
    return {
      code: 'upstream-bad-response',
      status: 502,
      title: `${where} sent a malformed response`,
      detail:
        code === 'UNSOLICITED_UPGRADE'
          ? `${where} switched protocols (101) without being asked to; mitmlab cannot forward that.`
          : `${where} answered with something that is not valid HTTP/1.1 (${e.message ?? code}); mitmlab does not forward ambiguous responses.`,
    };
  }
  if (code === 'BAD_WEBSOCKET_ANSWER') {
    // The origin did answer 101, but its handshake fails RFC 6455 §4.1's checks (accept key, an extension or a
    // subprotocol it was not offered, none chosen from those offered).
    return {
      code: 'upstream-bad-response',
      status: 502,
      title: `${where} sent an invalid WebSocket handshake`,
      detail: `${where} answered the WebSocket upgrade with 101, but its answer is invalid: ${e.message ?? code} (RFC 6455 §4.1).`,
    };
  }
  if (code === 'UNRELAYABLE_TRANSFER_CODING') {
    return {
      code: 'upstream-bad-response',
      status: 502,
      title: `${where} sent a body mitmlab cannot pass on as it is`,
      detail: `${where} answered with a transfer coding other than chunked (${e.message ?? ''}), which only an HTTP/1.1 client can be sent, and only chunked last (RFC 9112 §6.1).`,
    };
  }
  if (code === 'NO_RESPONSE') {
    return {
      code: 'upstream-bad-response',
      status: 502,
      title: `${where} gave no usable response`,
      detail: `${where} ended the exchange without an HTTP response mitmlab can forward (for example an unrequested protocol switch).`,
    };
  }
  if (code === 'RESPONSE_TIMEOUT') {
    return {
      code: 'upstream-timeout',
      status: 504,
      title: `${where} did not answer in time`,
      detail: `mitmlab sent the request to ${where}, but no response came within --idle-timeout.`,
    };
  }
  if (code === 'UPSTREAM_UNTRUSTED') {
    const reason = e.reason ?? 'not trusted';
    return {
      code: 'upstream-untrusted',
      status: 502,
      title: `Upstream certificate not trusted (${reason})`,
      detail: `The certificate of ${where} failed verification: ${reason}. mitmlab refused it, as a browser would. If the lab's server has a CA of its own, start mitmlab with --upstream-ca FILE (that CA's certificate), which keeps the check; to continue anyway, --upstream-insecure ${host}.`,
    };
  }
  if (phase === 'exchange' && (code === 'ECONNRESET' || code === 'EPIPE')) {
    // Not a handshake failure: the request was on its way, or sent, on a connection that was working.
    return {
      code: 'upstream-reset',
      status: 502,
      title: `${where} reset the connection`,
      detail: `The origin ${where} closed the connection before sending a complete response to this request.`,
    };
  }
  const facts = upstreamFailureFacts(error);
  const failure = classifyUpstreamFailure({ ...facts, leg: 'upstream', host: where });
  switch (failure.cause) {
    case 'upstream-dns':
      return { code: 'upstream-dns', status: 502, title: `Cannot resolve ${host}`, detail: failure.message };
    case 'upstream-unreachable':
      return code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT'
        ? { code: 'upstream-timeout', status: 504, title: `Timed out connecting to ${where}`, detail: failure.message }
        : { code: 'upstream-unreachable', status: 502, title: `Cannot reach ${where}`, detail: failure.message };
    case 'reset':
      return { code: 'upstream-reset', status: 502, title: `${where} ${facts.peerClosed ? 'closed' : 'reset'} the connection`, detail: failure.message };
    case 'handshake-timeout':
      return { code: 'upstream-timeout', status: 504, title: `TLS handshake with ${where} timed out`, detail: failure.message };
    default:
      if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
        return { code: 'upstream-tls', status: 502, title: `TLS handshake with ${where} failed`, detail: failure.message };
      }
      return {
        code: 'upstream-unreachable',
        status: 502,
        title: `Cannot reach ${where}`,
        detail: `${failure.message}${e.message ? ` (${e.message})` : ''}`,
      };
  }
}
