// Flow summaries: the row-level view of a session, built by a pure reducer over ProxyEvents.
// The server keeps a bounded map of them (store, hub snapshots); the UI builds the same map from the stream.
// Types only here plus pure functions: no node: imports.

import type { ConnId, Endpoint, FlowId } from './events.js';
import type { TlsFailureCause } from './tls.js';

/** What a row of the flow list stands for. */
export type FlowKind =
  | 'http'
  | 'websocket'
  /** Bytes relayed without interception (passthrough host, non-TLS after CONNECT). */
  | 'tunnel'
  /** A connection whose TLS handshake failed before any request: shown so the refusal is visible. */
  | 'tls-failure';

export interface FlowSummary {
  /** FlowId for http/websocket rows; the ConnId for tunnel and tls-failure rows. */
  id: FlowId;
  conn: ConnId;
  kind: FlowKind;
  /** ms since epoch. */
  startedAt: number;
  client: Endpoint | null;
  method: string | null;
  url: string | null;
  /** Lowercase host without port. */
  host: string;
  port: number | null;
  path: string | null;
  status: number | null;
  mimeType: string | null;
  requestBytes: number;
  responseBytes: number;
  durationMs: number | null;
  /** Client-leg TLS version (what the browser negotiated with mitmlab), e.g. TLSv1.3. */
  tlsVersion: string | null;
  upstreamTlsVersion: string | null;
  wsMessages: number;
  state: 'pending' | 'done' | 'failed';
  flags: {
    /** Credentials seen in plaintext. */
    secret: boolean;
    /** The origin's certificate failed verification (refused, or let through by --upstream-insecure). */
    upstreamCertProblem: boolean;
    /** A TLS handshake on either leg failed (an origin that was never reached is not counted: see neverReached). */
    tlsFailed: boolean;
    /** The response came from mitmlab (an error page). */
    synthetic: boolean;
  };
  /** One sentence explaining a failure, if any. */
  error: string | null;
  /** Why the connection's first failed handshake failed (tls-failure rows): names the row's failure. */
  failure: TlsFailureCause | null;
}

/**
 * The origin was never reached (no TCP connection, or its name did not resolve), so no handshake began: recorded as a
 * failed upstream leg, but named as what it is rather than as a TLS failure.
 */
export function neverReached(cause: TlsFailureCause): boolean {
  return cause === 'upstream-unreachable' || cause === 'upstream-dns';
}

/** A tls-failure row's short name for its failure, as the flow list's Type column shows it. */
export function failureLabel(cause: TlsFailureCause | null): string {
  if (cause === 'upstream-dns') return 'DNS failed';
  if (cause === 'upstream-unreachable') return 'unreachable';
  return 'TLS failed';
}
