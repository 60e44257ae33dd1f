// What the proxy core needs to run, already validated and normalized by the CLI (server/cli/options.ts).

import type { Cidr } from './policy.js';

/** Largest WebSocket message relayed (fragments joined); a larger one ends the connection with 1009 (RFC 6455 §7.4.1). */
export const MAX_WS_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface ProxyConfig {
  listenHost: string;
  /** 0 picks a free port (tests). */
  listenPort: number;
  /** Client addresses allowed to use the proxy (--allow); loopback is always allowed. */
  allow: readonly Cidr[];
  /** Hosts tunnelled without interception (--passthrough), see policy.matchesHostPattern. */
  passthrough: readonly string[];
  /** Hosts whose untrusted certificates are accepted anyway (--upstream-insecure). */
  upstreamInsecure: readonly string[];
  /** Extra trust anchors for origins (--upstream-ca files and NODE_EXTRA_CA_CERTS), PEM. */
  upstreamCaPems: readonly string[];
  /** --resolve HOST:ADDR overrides, keyed by normalized host. */
  resolve: ReadonlyMap<string, string>;
  /** Bytes of each body kept for display and export (--body-cap). */
  bodyCap: number;
  /** Bytes of each WebSocket message kept (--ws-cap). */
  wsCap: number;
  /** Raw TLS bytes kept per leg for the transcript and pcapng export (--tls-capture-budget). */
  tlsCaptureBudget: number;
  /** Upstream keep-alive sockets kept for plain-HTTP forwarding, per host. */
  upstreamPoolPerHost: number;
  /** Largest request head accepted (--max-header-size); larger → 431. */
  maxHeaderSize: number;
  timeouts: {
    /** DNS + TCP connect to the origin → 504 when exceeded. */
    connectMs: number;
    /** TLS handshake on either leg. */
    handshakeMs: number;
    /** Request head must arrive within this (Node's headersTimeout). */
    headersMs: number;
    /** A connection with no traffic is closed after this. */
    idleMs: number;
  };
}

/** Defaults shared by the CLI table and tests. */
export const DEFAULT_TIMEOUTS: ProxyConfig['timeouts'] = {
  connectMs: 10_000,
  handshakeMs: 10_000,
  headersMs: 30_000,
  idleMs: 120_000,
};
