// The live view's wire protocol: WebSocket messages between the hub (server/hub/) and the UI (ui/src/lib/client/),
// plus the REST paths and the token's header and cookie names. Types and pure functions only: ui/ imports this file.
//
// A connection goes: hello → snapshot (or, when resuming, straight to batches) → batch, batch, …
// Every event the hub sees gets the next sequence number (per hub, starting at 1). A batch carries consecutive events
// starting at `fromSeq`, so a client detects any gap by arithmetic. Sequence numbers mean nothing across hubs: the
// hello's `hubId` changes on every start, and a resume with another hub's id gets a snapshot.

import type { EventOf, ProxyEvent } from './events.js';
import type { FlowSummary } from './flows.js';

export const WIRE_VERSION = 1;

/** The WebSocket endpoint. Resume with `?hub=<hubId>&after=<lastSeq>`. */
export const WS_PATH = '/ws';
/** Header carrying the token for non-browser clients (`Authorization: Bearer <token>` works too). */
export const TOKEN_HEADER = 'x-mitmlab-token';
/**
 * The cookie the token URL (`/?token=…`) sets, named after the live view's port. Browsers send a cookie to every port
 * of its host (RFC 6265 §8.5), so its value is never the token: it is a random value that lasts as long as this run
 * of mitmlab. The port in the name keeps two running mitmlabs from overwriting each other's cookie.
 */
export function sessionCookieName(port: number): string {
  return `mitmlab_session_${port}`;
}
/** Query parameter of the token URL printed at start. */
export const TOKEN_QUERY = 'token';

/** Events the event log shows: failures explained in a sentence. */
export type LogEvent = EventOf<'tls-failed'> | EventOf<'proxy-error'> | EventOf<'store-error'>;

/** True for the events the event log keeps. */
export function isLogEvent(event: ProxyEvent): event is LogEvent {
  return event.type === 'tls-failed' || event.type === 'proxy-error' || event.type === 'store-error';
}

export type ExportFormat = 'har' | 'jsonl' | 'keylog' | 'pcapng';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['har', 'jsonl', 'keylog', 'pcapng'];

/** Facts about the hub a client needs once per connection. */
export interface HubHello {
  type: 'hello';
  version: typeof WIRE_VERSION;
  /** Random per hub start: a resume carries it so sequence numbers of another run are never trusted. */
  hubId: string;
  /** The session being recorded, when a store is attached. */
  sessionId: string | null;
  /** Sequence number of the last event the hub has seen. */
  seq: number;
  /** True when the hub continues after the client's `after`: batches follow, no snapshot. */
  resumed: boolean;
  /** Ports the proxy listens on, for the setup hints (`--proxy-server=http://127.0.0.1:PORT`). */
  proxyPorts: number[];
  ca: CaInfo;
}

export interface CaInfo {
  /** SHA-256 of the CA certificate (DER), colon-separated uppercase hex as browsers show it. */
  sha256: string;
  /** Base64 SHA-256 of the CA's SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list, HPKP pins). */
  spki: string;
  /** The CA's subject, e.g. `CN=mitmlab lab CA - DO NOT TRUST outside the lab (3fa9c1), O=…`: what trust stores list. */
  subject: string | null;
  /** Expiry, ISO 8601. */
  notAfter: string | null;
  /** Where the certificate is on the machine running mitmlab, as `mitmlab ca show` prints it (e.g. ca/mitmlab-ca.pem). */
  path?: string | null;
}

/** The state of the world at `seq`: rows (no bodies), recent log entries and recent secrets. */
export interface Snapshot {
  type: 'snapshot';
  /** Every event up to and including this one is reflected; batches continue at seq + 1. */
  seq: number;
  flows: FlowSummary[];
  log: LogEvent[];
  secrets: EventOf<'secrets-found'>[];
}

/** Consecutive events: `events[i]` has sequence number `fromSeq + i`. */
export interface Batch {
  type: 'batch';
  fromSeq: number;
  events: ProxyEvent[];
}

export type ResetReason =
  /** The client did not read fast enough: its queue was dropped. A snapshot follows once it drains. */
  | 'slow-consumer'
  /** The client asked to resume from a sequence number the hub no longer holds. */
  | 'resume-gap';

/** Drop everything received so far; a snapshot follows. */
export interface Reset {
  type: 'reset';
  reason: ResetReason;
  message: string;
}

export type ServerMessage = HubHello | Snapshot | Batch | Reset;

export type ClientMessage =
  /** Stop sending batches (the live view is paused). The hub keeps the client's position. */
  | { type: 'pause' }
  /** Send everything after `lastSeq`: from the hub's ring when it still holds it, else reset + snapshot. */
  | { type: 'resume'; lastSeq: number };

/** Parses a client message; null for anything malformed (the hub ignores it). Never throws. */
export function parseClientMessage(text: string): ClientMessage | null {
  if (text.length > 1024) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const message = value as Record<string, unknown>;
  if (message.type === 'pause') return { type: 'pause' };
  if (message.type === 'resume' && isSeq(message.lastSeq)) return { type: 'resume', lastSeq: message.lastSeq };
  return null;
}

/** Parses the resume parameters of a WebSocket URL's query (`hub`, `after`); null when absent or malformed. */
export function parseResumeQuery(search: URLSearchParams): { hubId: string; lastSeq: number } | null {
  const hubId = search.get('hub');
  const after = search.get('after');
  if (!hubId || after === null || !/^\d{1,15}$/.test(after)) return null;
  return { hubId, lastSeq: Number(after) };
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** REST endpoints of the hub (all require the token). */
export const API = {
  /** Events of one client connection (TLS of both legs, every flow on it): `ProxyEvent[]`. */
  connEvents: (conn: string) => `/api/conns/${encodeURIComponent(conn)}/events`,
  /** Captured bytes by SHA-256; `type` sets the Content-Type, `name` the download's file name. */
  body: (sha256: string, options: { type?: string | null; name?: string } = {}) => {
    const query = new URLSearchParams();
    if (options.type) query.set('type', options.type);
    if (options.name) query.set('name', options.name);
    const q = query.toString();
    return `/api/bodies/${sha256}${q ? `?${q}` : ''}`;
  },
  /** Recorded sessions: `SessionListing[]`. */
  sessions: '/api/sessions',
  /** Every event of a recorded session, oldest first, as JSON Lines. */
  sessionEvents: (id: string) => `/api/sessions/${encodeURIComponent(id)}/events`,
  /** Every event of one connection of a recorded session (connection ids restart in every session): `ProxyEvent[]`. */
  sessionConnEvents: (id: string, conn: string) => `/api/sessions/${encodeURIComponent(id)}/conns/${encodeURIComponent(conn)}/events`,
  /** A download of a session in one format, optionally narrowed by a filter expression (server/protocol/filter.ts). */
  exportUrl: (format: ExportFormat, options: { session?: string | null; filter?: string | null } = {}) => {
    const query = new URLSearchParams({ format });
    if (options.session) query.set('session', options.session);
    if (options.filter) query.set('filter', options.filter);
    return `/api/export?${query.toString()}`;
  },
  caPem: '/api/ca/mitmlab-ca.pem',
  caDer: '/api/ca/mitmlab-ca.cer',
  /** How this request reached the hub: `WhoAmI`. */
  whoami: '/api/whoami',
  /** Starts a proxy self-test: `SelfTestStart`; then GET `selfTest(id)` for `SelfTestResult`. */
  selfTestStart: '/api/selftest',
  selfTest: (id: string) => `/api/selftest/${encodeURIComponent(id)}`,
} as const;

/** One recorded session, as the sessions page lists it. */
export interface SessionListing {
  id: string;
  name: string | null;
  startedAt: number;
  endedAt: number | null;
  flows: number;
  bytes: number;
  /** The session this hub is recording now. */
  current: boolean;
}

/** What the hub saw of the request for its own page. */
export interface WhoAmI {
  /** The TCP peer of this request. */
  peer: { address: string; port: number };
  /** Host header as received. */
  host: string;
  /** The request carried proxy markers (Via, Forwarded, X-Forwarded-For): it came through some proxy. */
  proxied: boolean;
  /** The peer is a loopback address: the browser runs on this machine and talked to the hub directly. */
  loopback: boolean;
}

/**
 * The self-test: the page asks the browser to fetch `probeUrl` (a name under a reserved TLD that no DNS resolves,
 * RFC 6761 §6.2), and the hub watches its event bus for that name.
 */
export interface SelfTestStart {
  id: string;
  probeUrl: string;
}

export interface SelfTestResult {
  id: string;
  /** The proxy saw the probe (CONNECT or request): this browser sends its traffic through mitmlab. */
  viaProxy: boolean;
  /** The client-leg handshake of the probe: established (the lab CA is trusted), failed, or not seen. */
  clientTls: 'established' | 'failed' | 'none';
  /** The failure cause and sentence when the handshake failed. */
  failure: { cause: string; message: string } | null;
  /** The decrypted request reached mitmlab. */
  requestSeen: boolean;
}

/** The probe host for a self-test id: a subdomain of a reserved, never-resolving name (RFC 6761 §6.2: `.test`). */
export const SELF_TEST_DOMAIN = 'selftest.mitmlab.test';
