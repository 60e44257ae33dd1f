// The one vocabulary of mitmlab: the server emits these, the store persists them, the hub streams them and the UI
// renders them. Types only (no node: imports) so ui/ can import this file.
//
// Every `switch` that answers for the whole of ProxyEvent (the flow reducer, the HAR export, the flow detail) ends
// with `assertNever(event)`, so adding a type makes the compiler list every place that must learn about it. The
// few that pick out a handful of types (the self-test, the pcapng export) say so where they switch.

import type {
  CertificateSummary,
  ClientHello,
  Fingerprints,
  HandshakeStep,
  Leg,
  ServerHello,
  TlsFailureCause,
  UpstreamVerification,
} from './tls.js';

/** A client TCP connection to the proxy, e.g. `c17`. */
export type ConnId = string;
/** One HTTP exchange (or WebSocket session) inside a connection, e.g. `c17.2`. */
export type FlowId = string;

/** A 1xx response that came before the final one. */
export interface InterimResponse {
  status: number;
  statusText: string;
  headers: HeaderList;
  /** ms since epoch. */
  at: number;
}

/** Header names and values in wire order, case preserved. */
export type HeaderList = [name: string, value: string][];

export interface Endpoint {
  address: string;
  port: number;
}

/** A captured body. The bytes live in the blob store under `sha256`; events never carry them. */
export interface BodyRef {
  /** SHA-256 (hex) of the stored bytes: decoded when `decoded` is true, else as on the wire. */
  sha256: string;
  /** Stored bytes. */
  size: number;
  /** Bytes that crossed the proxy (after transfer coding, before content coding). */
  wireSize: number;
  /** The capture stopped at --body-cap: `size` covers only the first bytes. */
  truncated: boolean;
  /** Content-Encoding on the wire (gzip, br, deflate), then any transfer coding other than chunked; or null. */
  encoding: string | null;
  /** The stored bytes were decoded from `encoding`. */
  decoded: boolean;
  /**
   * Why the body could not be decoded from `encoding` (it is then stored as it came): any failure of a body captured
   * whole, or one cut short that failed before its first decoded byte.
   */
  decodeError?: string;
  /** Media type from Content-Type, lowercased, without parameters. */
  mimeType: string | null;
}

/** Milliseconds, measured from the request's first byte (`startedAt`). -1 when not applicable (HAR convention). */
export interface FlowTimings {
  /** Wall clock of the request's first byte, ms since epoch. */
  startedAt: number;
  /**
   * Waiting for an upstream connection (DNS + TCP + TLS) when this request had to open a new one. -1 when it used a
   * connection already open, including the one an intercepted tunnel opens at CONNECT, before any request.
   */
  connect: number;
  /** The TLS handshake's share of `connect` (HAR 1.2 `ssl`); -1, or absent in older sessions, when none. */
  ssl?: number;
  /** Request headers and body sent upstream. */
  send: number;
  /** Time to the first response byte. */
  wait: number;
  /** Response body received. */
  receive: number;
  total: number;
}

/** A credential seen in plaintext: the MITM risk made concrete. Values are shown masked until revealed. */
export interface ExposedSecret {
  kind: 'basic-auth' | 'bearer' | 'authorization' | 'cookie' | 'set-cookie' | 'form-field' | 'json-field' | 'query-param';
  /** Header, field, cookie or parameter name. */
  name: string;
  /** The secret as seen (Basic credentials decoded to user:password). */
  value: string;
  /** `ws-send`: a WebSocket message from the browser; `ws-receive`: one from the origin. */
  location: 'request-header' | 'request-body' | 'url' | 'response-header' | 'response-body' | 'ws-send' | 'ws-receive';
}

/** How the client reached the proxy. Only `explicit` is emitted: `transparent` is reserved, not implemented yet. */
export type ListenerMode = 'explicit' | 'transparent';

/** Why bytes were relayed uninspected: a --passthrough host, or a CONNECT tunnel not opening with a ClientHello. */
export type TunnelReason = 'passthrough' | 'not-tls';

/** Proxy errors with a stable code; `status` is the HTTP status the client got, if any. */
export type ProxyErrorCode =
  | 'bad-request'
  | 'bad-connect-target'
  | 'headers-too-large'
  | 'loop-refused'
  /** A client on another machine asked for a service on the machine mitmlab runs on (see --listen-host). */
  | 'local-refused'
  | 'client-not-allowed'
  | 'not-a-proxy-request'
  | 'upstream-dns'
  | 'upstream-unreachable'
  | 'upstream-timeout'
  | 'upstream-untrusted'
  | 'upstream-tls'
  | 'upstream-reset'
  | 'upstream-bad-response'
  | 'client-aborted'
  /** mitmlab was stopped (SIGTERM, Ctrl-C) while the exchange was under way; what came so far is recorded. */
  | 'stopped'
  | 'timeout'
  | 'internal';

export type StoreErrorCode = 'write-failed';

export type ProxyEvent =
  | { type: 'connection-open'; conn: ConnId; client: Endpoint; mode: ListenerMode; at: number }
  | { type: 'connection-close'; conn: ConnId; bytesIn: number; bytesOut: number; at: number }
  /** The browser asked for a tunnel (CONNECT host:port). */
  | { type: 'connect'; conn: ConnId; host: string; port: number; at: number }
  /**
   * The connection's requests go over an idle origin connection that connection `from` opened and verified, kept
   * after `from` closed (RFC 9112 §9.3): no handshake with the origin took place for this connection. That
   * connection's upstream-leg events hold the handshake, and its transcript the bytes.
   */
  | { type: 'upstream-reused'; conn: ConnId; from: ConnId; host: string; at: number }
  /** Bytes relayed without interception. */
  | { type: 'tunnel'; conn: ConnId; host: string; port: number; reason: TunnelReason; at: number }
  | {
      type: 'tls-client-hello';
      conn: ConnId;
      leg: Leg;
      hello: ClientHello;
      fingerprints: Fingerprints;
      /** The raw handshake message, base64 (hellos are small; the UI highlights fields by Span). */
      raw: string;
      at: number;
    }
  | { type: 'tls-server-hello'; conn: ConnId; leg: Leg; hello: ServerHello; raw: string; at: number }
  | {
      type: 'tls-established';
      conn: ConnId;
      leg: Leg;
      /** e.g. TLSv1.3 */
      version: string;
      /** IANA standard name, e.g. TLS_AES_128_GCM_SHA256. */
      cipher: string;
      alpn: string | null;
      sni: string | null;
      resumed: boolean;
      /** Key-exchange group name (x25519, X25519MLKEM768, secp256r1…) and key size in bits. */
      group: string | null;
      groupBits: number | null;
      /** Signature algorithms both sides support (OpenSSL names). */
      sharedSigalgs: string[];
      /** DNS lookup + TCP connect time (upstream leg) in ms; null on the client leg (the browser connected to us). */
      connectMs: number | null;
      handshakeMs: number;
      at: number;
    }
  | {
      type: 'tls-certificates';
      conn: ConnId;
      host: string;
      /** The origin's chain as received. */
      upstream: CertificateSummary[];
      /** The chain mitmlab showed the browser. */
      forged: CertificateSummary[];
      verification: UpstreamVerification;
      /** --upstream-insecure let an untrusted origin through: the browser was not told. */
      insecureAllowed: boolean;
      at: number;
    }
  | {
      type: 'tls-failed';
      conn: ConnId;
      leg: Leg;
      host: string;
      cause: TlsFailureCause;
      /** One sentence a student can act on. */
      message: string;
      /** TLS alert name when one was sent or received. */
      alert: string | null;
      at: number;
    }
  /** One NSS key log line (https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/). */
  | { type: 'tls-keylog'; conn: ConnId; leg: Leg; line: string; at: number }
  /** The handshake as seen on the wire, sent when the leg closes (or its capture budget is spent). */
  | {
      type: 'tls-transcript';
      conn: ConnId;
      leg: Leg;
      steps: HandshakeStep[];
      /** Raw bytes kept for export (blob refs): towards mitmlab and from mitmlab. */
      rawIn: string | null;
      rawOut: string | null;
      /** Raw bytes kept stop at the capture budget; records after it are only counted. */
      truncated: boolean;
      appRecords: number;
      appBytes: number;
      /**
       * The order the kept records arrived in: runs, +n for n records in rawIn, -n for n in rawOut. Absent in
       * sessions recorded before it existed, empty when a direction was not TLS.
       */
      order?: number[];
      at: number;
    }
  | {
      type: 'http-request';
      id: FlowId;
      conn: ConnId;
      method: string;
      /** Absolute URL. */
      url: string;
      httpVersion: string;
      headers: HeaderList;
      body: BodyRef | null;
      /** Trailer fields after a chunked body (RFC 9110 §6.5), when the client sent any. */
      trailers?: HeaderList;
      /** Client address, for the flow list. */
      client: Endpoint;
      at: number;
    }
  | {
      type: 'http-response';
      id: FlowId;
      conn: ConnId;
      status: number;
      statusText: string;
      httpVersion: string;
      headers: HeaderList;
      body: BodyRef | null;
      timings: FlowTimings;
      /** The response came from mitmlab itself (an error page), not from the origin. */
      synthetic: boolean;
      /** Interim responses the origin sent before this one (102, 103 Early Hints…; RFC 9110 §15.2), in order. */
      interim?: InterimResponse[];
      /** Trailer fields after a chunked body (RFC 9110 §6.5), when the origin sent any. */
      trailers?: HeaderList;
      at: number;
    }
  /** Credentials found in a request or response (server/protocol/secrets.ts). */
  | { type: 'secrets-found'; id: FlowId; conn: ConnId; secrets: ExposedSecret[]; at: number }
  | {
      type: 'ws-open';
      id: FlowId;
      conn: ConnId;
      url: string;
      protocol: string | null;
      extensions: string | null;
      at: number;
    }
  | {
      type: 'ws-message';
      id: FlowId;
      conn: ConnId;
      /** Chrome's HAR vocabulary: `send` = browser to server. */
      direction: 'send' | 'receive';
      /** RFC 6455 §5.2: 1 text, 2 binary; the control frames 9 ping and 10 pong (§5.5.2, §5.5.3). */
      opcode: 1 | 2 | 9 | 10;
      size: number;
      /** UTF-8 text for opcode 1, base64 for the others; capped at --ws-cap bytes (text at a character's boundary). */
      data: string;
      truncated: boolean;
      /** The other side had already closed: the message reached mitmlab but was not passed on. */
      undelivered?: true;
      at: number;
    }
  /**
   * `by`: who closed first. `mitmlab` when it closed both sides: a peer broke the protocol (a proxy-error says how;
   * `code` is the one mitmlab sent, 1002, 1007 or 1009), or mitmlab stopped (1001).
   */
  | { type: 'ws-close'; id: FlowId; conn: ConnId; code: number; reason: string; by: 'client' | 'server' | 'mitmlab'; at: number }
  | {
      type: 'proxy-error';
      conn: ConnId | null;
      id: FlowId | null;
      code: ProxyErrorCode;
      /** The HTTP status the client was answered with, if any. */
      status: number | null;
      message: string;
      at: number;
    }
  | { type: 'store-error'; code: StoreErrorCode; message: string; at: number };

export type ProxyEventType = ProxyEvent['type'];

/** The event of a given type, e.g. `EventOf<'http-request'>`. */
export type EventOf<T extends ProxyEventType> = Extract<ProxyEvent, { type: T }>;

/** Ends every switch over a union: a new member makes this line a compile error. */
export function assertNever(value: never): never {
  throw new Error(`unhandled variant: ${JSON.stringify(value)}`);
}
