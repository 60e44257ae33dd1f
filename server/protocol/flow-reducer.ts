// The pure reducer from ProxyEvents to FlowSummary rows. The store runs it to keep the bounded in-memory flow list
// (and to evaluate export filters); the UI runs the same code over the live stream, so both agree on every row.
// No node: imports: ui/ imports this file.

import { assertNever } from './events.js';
import type { ConnId, Endpoint, EventOf, FlowId, HeaderList, ProxyEvent } from './events.js';
import { neverReached, type FlowSummary } from './flows.js';

/** Default number of flow summaries kept in memory per session (issue 4: "default 50k per session"). */
export const DEFAULT_FLOW_CAP = 50_000;

/** Set when a connection closes with a request unanswered; a response event arriving later clears it. */
const CLOSED_BEFORE_RESPONSE = 'The connection closed before a response arrived.';

/** Unfinished flows remembered per connection (HTTP/1.1 is one at a time; more is pipelining or a leak). */
const OPEN_FLOWS_PER_CONN = 64;

/** What the reducer remembers about a client connection, so rows created later inherit its TLS facts. */
export interface ConnFacts {
  openedAt: number | null;
  client: Endpoint | null;
  /** CONNECT target, or the tunnel's destination. */
  host: string | null;
  port: number | null;
  /** SNI the browser sent on the client leg. */
  sni: string | null;
  clientTlsVersion: string | null;
  upstreamTlsVersion: string | null;
  upstreamCertProblem: boolean;
  tlsFailed: boolean;
  hadRequest: boolean;
  /** Flows of this connection that are still pending, oldest first (bounded). */
  open: FlowId[];
}

/** Flow summaries by id (insertion order = age) plus per-connection facts; both bounded by `cap`. */
export interface FlowIndex {
  readonly cap: number;
  readonly flows: Map<FlowId, FlowSummary>;
  readonly conns: Map<ConnId, ConnFacts>;
  /** Rows ever created, including evicted ones. */
  created: number;
  /** Rows evicted from memory to respect `cap`. */
  evicted: number;
}

/** An empty index keeping at most `cap` summaries (and at most `cap` connections' facts). */
export function createFlowIndex(cap: number = DEFAULT_FLOW_CAP): FlowIndex {
  return { cap: Math.max(1, Math.floor(cap)), flows: new Map(), conns: new Map(), created: 0, evicted: 0 };
}

/** The summaries currently in memory, oldest first. */
export function flowList(index: FlowIndex): FlowSummary[] {
  return [...index.flows.values()];
}

/**
 * Folds one event into the index and returns the summary it created or changed (a new object: summaries are never
 * mutated, so holders of an older one can compare by identity), or null when no row was touched.
 */
export function applyEvent(index: FlowIndex, event: ProxyEvent): FlowSummary | null {
  switch (event.type) {
    case 'connection-open': {
      const facts = connFacts(index, event.conn);
      facts.openedAt = event.at;
      facts.client = event.client;
      return null;
    }
    case 'connection-close':
      return onConnectionClose(index, event);
    case 'connect': {
      const facts = connFacts(index, event.conn);
      facts.host = normalizeHost(event.host);
      facts.port = event.port;
      return null;
    }
    case 'upstream-reused': {
      // The origin connection's TLS is the one its first connection negotiated (when that is still in the index).
      const version = index.conns.get(event.from)?.upstreamTlsVersion ?? null;
      const facts = connFacts(index, event.conn);
      facts.upstreamTlsVersion = version;
      return updateOpen(index, facts, (row) => ({ ...row, upstreamTlsVersion: version }));
    }
    case 'tunnel': {
      const facts = connFacts(index, event.conn);
      facts.host = normalizeHost(event.host);
      facts.port = event.port;
      const existing = index.flows.get(event.conn);
      if (!existing) index.created++;
      const row: FlowSummary = {
        ...(existing ?? blankRow(event.conn, event.conn, 'tunnel', facts.openedAt ?? event.at, facts.client)),
        kind: 'tunnel',
        host: normalizeHost(event.host),
        port: event.port,
        state: 'pending',
      };
      return put(index, row);
    }
    case 'tls-client-hello': {
      if (event.leg === 'client') connFacts(index, event.conn).sni = event.hello.serverName;
      return null;
    }
    case 'tls-server-hello':
      return null;
    case 'tls-established': {
      const facts = connFacts(index, event.conn);
      if (event.leg === 'client') facts.clientTlsVersion = event.version;
      else facts.upstreamTlsVersion = event.version;
      return updateOpen(index, facts, (row) =>
        event.leg === 'client' ? { ...row, tlsVersion: event.version } : { ...row, upstreamTlsVersion: event.version },
      );
    }
    case 'tls-certificates': {
      const problem = !event.verification.trusted || event.insecureAllowed;
      if (!problem) return null;
      const facts = connFacts(index, event.conn);
      facts.upstreamCertProblem = true;
      return updateOpen(index, facts, (row) => ({ ...row, flags: { ...row.flags, upstreamCertProblem: true } }));
    }
    case 'tls-failed':
      return onTlsFailed(index, event);
    case 'tls-keylog':
    case 'tls-transcript':
      return null;
    case 'http-request':
      return onRequest(index, event);
    case 'http-response':
      return onResponse(index, event);
    case 'secrets-found': {
      const row = index.flows.get(event.id);
      if (!row || event.secrets.length === 0) return null;
      return put(index, { ...row, flags: { ...row.flags, secret: true } });
    }
    case 'ws-open': {
      const existing = index.flows.get(event.id);
      const facts = connFacts(index, event.conn);
      const base = existing ?? { ...blankRow(event.id, event.conn, 'websocket', event.at, facts.client), ...urlParts(event.url) };
      if (!existing) {
        index.created++;
        facts.hadRequest = true;
        inheritTls(base, facts);
        trackOpen(facts, event.id);
      }
      return put(index, { ...base, kind: 'websocket', state: 'pending', url: base.url ?? event.url });
    }
    case 'ws-message': {
      const row = index.flows.get(event.id);
      // The row counts messages; pings and pongs are control frames (RFC 6455 §5.5), listed in the detail only.
      if (!row || event.opcode > 2) return null;
      return put(index, { ...row, wsMessages: row.wsMessages + 1 });
    }
    case 'ws-close': {
      const row = index.flows.get(event.id);
      if (!row) return null;
      untrackOpen(index.conns.get(event.conn), event.id);
      return put(index, { ...row, state: 'done', durationMs: Math.max(0, event.at - row.startedAt) });
    }
    case 'proxy-error': {
      if (event.id === null) return null;
      const row = index.flows.get(event.id);
      if (!row) return null;
      if (event.conn !== null) untrackOpen(index.conns.get(event.conn), event.id);
      return put(index, {
        ...row,
        state: 'failed',
        error: event.message,
        status: row.status ?? event.status,
        durationMs: row.durationMs ?? Math.max(0, event.at - row.startedAt),
      });
    }
    case 'store-error':
      return null;
    default:
      return assertNever(event);
  }
}

function onConnectionClose(index: FlowIndex, event: EventOf<'connection-close'>): FlowSummary | null {
  const facts = index.conns.get(event.conn);
  let touched: FlowSummary | null = null;
  const tunnel = index.flows.get(event.conn);
  if (tunnel && tunnel.kind === 'tunnel') {
    touched = put(index, {
      ...tunnel,
      state: tunnel.state === 'pending' ? 'done' : tunnel.state,
      requestBytes: event.bytesIn,
      responseBytes: event.bytesOut,
      durationMs: Math.max(0, event.at - tunnel.startedAt),
    });
  }
  if (facts) {
    // A flow still open when its connection closes ended with it: a WebSocket closed without a close frame is done,
    // an HTTP request without a response failed.
    for (const id of facts.open) {
      const row = index.flows.get(id);
      if (!row || row.state !== 'pending') continue;
      touched =
        row.kind === 'websocket'
          ? put(index, { ...row, state: 'done', durationMs: Math.max(0, event.at - row.startedAt) })
          : put(index, {
              ...row,
              state: 'failed',
              error: row.error ?? CLOSED_BEFORE_RESPONSE,
              durationMs: Math.max(0, event.at - row.startedAt),
            });
    }
    facts.open = [];
  }
  return touched;
}

function onTlsFailed(index: FlowIndex, event: EventOf<'tls-failed'>): FlowSummary | null {
  const facts = connFacts(index, event.conn);
  const handshakeFailed = !neverReached(event.cause);
  facts.tlsFailed ||= handshakeFailed;
  if (!facts.hadRequest) {
    // No request ever made it through: the failed handshake itself is the row, so the refusal is visible.
    const existing = index.flows.get(event.conn);
    const startedAt = existing?.startedAt ?? facts.openedAt ?? event.at;
    const base = existing ?? blankRow(event.conn, event.conn, 'tls-failure', startedAt, facts.client);
    if (!existing) index.created++;
    return put(index, {
      ...base,
      kind: existing?.kind === 'tunnel' ? 'tunnel' : 'tls-failure',
      host: normalizeHost(event.host || facts.sni || facts.host || ''),
      port: base.port ?? facts.port,
      state: 'failed',
      // The first failure is the cause; a later one on the other leg is a consequence.
      error: base.error ?? event.message,
      failure: base.failure ?? event.cause,
      durationMs: Math.max(0, event.at - startedAt),
      tlsVersion: base.tlsVersion ?? facts.clientTlsVersion,
      upstreamTlsVersion: base.upstreamTlsVersion ?? facts.upstreamTlsVersion,
      flags: { ...base.flags, tlsFailed: base.flags.tlsFailed || handshakeFailed, upstreamCertProblem: base.flags.upstreamCertProblem || facts.upstreamCertProblem },
    });
  }
  if (!handshakeFailed) return null;
  return updateOpen(index, facts, (row) => ({ ...row, flags: { ...row.flags, tlsFailed: true } }));
}

function onRequest(index: FlowIndex, event: EventOf<'http-request'>): FlowSummary {
  const facts = connFacts(index, event.conn);
  facts.hadRequest = true;
  if (facts.client === null) facts.client = event.client;
  const existing = index.flows.get(event.id);
  if (!existing) index.created++;
  const row: FlowSummary = {
    ...blankRow(event.id, event.conn, 'http', event.at, event.client),
    ...urlParts(event.url),
    method: event.method,
    requestBytes: event.body?.wireSize ?? contentLength(event.headers) ?? 0,
  };
  inheritTls(row, facts);
  trackOpen(facts, event.id);
  return put(index, row);
}

function onResponse(index: FlowIndex, event: EventOf<'http-response'>): FlowSummary | null {
  const row = index.flows.get(event.id);
  if (!row) return null;
  // 101 Switching Protocols leaves the flow open: ws-open/ws-close follow.
  const upgraded = event.status === 101;
  if (!upgraded) untrackOpen(index.conns.get(event.conn), event.id);
  return put(index, {
    ...row,
    status: event.status,
    mimeType: event.body?.mimeType ?? mediaType(headerValue(event.headers, 'content-type')),
    responseBytes: event.body?.wireSize ?? contentLength(event.headers) ?? 0,
    durationMs: event.timings.total >= 0 ? event.timings.total : Math.max(0, event.at - row.startedAt),
    state: upgraded ? row.state : 'done',
    // The proxy may emit a response after its connection's close (bodies are decoded first).
    error: row.error === CLOSED_BEFORE_RESPONSE ? null : row.error,
    flags: { ...row.flags, synthetic: event.synthetic },
  });
}

/** Stores a row, evicting the oldest rows beyond the cap. */
function put(index: FlowIndex, row: FlowSummary): FlowSummary {
  index.flows.set(row.id, row);
  while (index.flows.size > index.cap) {
    const oldest = index.flows.keys().next().value as FlowId;
    index.flows.delete(oldest);
    index.evicted++;
  }
  return row;
}

/** The facts of a connection, created on first sight; the oldest connections are forgotten beyond the cap. */
function connFacts(index: FlowIndex, conn: ConnId): ConnFacts {
  let facts = index.conns.get(conn);
  if (!facts) {
    facts = {
      openedAt: null,
      client: null,
      host: null,
      port: null,
      sni: null,
      clientTlsVersion: null,
      upstreamTlsVersion: null,
      upstreamCertProblem: false,
      tlsFailed: false,
      hadRequest: false,
      open: [],
    };
    index.conns.set(conn, facts);
    while (index.conns.size > index.cap) index.conns.delete(index.conns.keys().next().value as ConnId);
  }
  return facts;
}

/** Applies `change` to every still-open flow of the connection; returns the last row changed. */
function updateOpen(index: FlowIndex, facts: ConnFacts, change: (row: FlowSummary) => FlowSummary): FlowSummary | null {
  let touched: FlowSummary | null = null;
  for (const id of facts.open) {
    const row = index.flows.get(id);
    if (row) touched = put(index, change(row));
  }
  return touched;
}

function trackOpen(facts: ConnFacts, id: FlowId): void {
  if (!facts.open.includes(id)) facts.open.push(id);
  if (facts.open.length > OPEN_FLOWS_PER_CONN) facts.open.shift();
}

function untrackOpen(facts: ConnFacts | undefined, id: FlowId): void {
  if (!facts) return;
  const at = facts.open.indexOf(id);
  if (at >= 0) facts.open.splice(at, 1);
}

function inheritTls(row: FlowSummary, facts: ConnFacts): void {
  row.tlsVersion = facts.clientTlsVersion;
  row.upstreamTlsVersion = facts.upstreamTlsVersion;
  row.flags.upstreamCertProblem = facts.upstreamCertProblem;
  row.flags.tlsFailed = facts.tlsFailed;
}

function blankRow(id: FlowId, conn: ConnId, kind: FlowSummary['kind'], startedAt: number, client: Endpoint | null): FlowSummary {
  return {
    id,
    conn,
    kind,
    startedAt,
    client,
    method: null,
    url: null,
    host: '',
    port: null,
    path: null,
    status: null,
    mimeType: null,
    requestBytes: 0,
    responseBytes: 0,
    durationMs: null,
    tlsVersion: null,
    upstreamTlsVersion: null,
    wsMessages: 0,
    state: 'pending',
    flags: { secret: false, upstreamCertProblem: false, tlsFailed: false, synthetic: false },
    error: null,
    failure: null,
  };
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443 };

/** Host, port and path of an absolute URL; a URL that does not parse keeps only its text. */
export function urlParts(url: string): Pick<FlowSummary, 'url' | 'host' | 'port' | 'path'> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, host: '', port: null, path: null };
  }
  const port = parsed.port ? Number(parsed.port) : (DEFAULT_PORTS[parsed.protocol] ?? null);
  return { url, host: normalizeHost(parsed.hostname), port, path: `${parsed.pathname}${parsed.search}` };
}

/** Lowercase, without IPv6 brackets or a trailing dot (RFC 3986 §3.2.2 literal form vs the bare address). */
function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function headerValue(headers: HeaderList, name: string): string | null {
  for (const [key, value] of headers) if (key.toLowerCase() === name) return value;
  return null;
}

function contentLength(headers: HeaderList): number | null {
  const value = headerValue(headers, 'content-length');
  if (value === null || !/^\d+$/.test(value.trim())) return null;
  return Number(value.trim());
}

/** Media type without parameters, lowercased (RFC 9110 §8.3.1). */
function mediaType(contentType: string | null): string | null {
  if (!contentType) return null;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type || null;
}
