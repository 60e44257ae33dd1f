// The hub's REST API: lazy fetches the WebSocket stream never carries (bodies, a connection's events), the session
// list, recorded sessions' events for opening one in the live view, streamed exports, the CA download and the
// self-test. Requests reach this only after the access checks.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobSink } from '../events/blob-sink.js';
import type { ConnId, ProxyEvent } from '../protocol/events.js';
import { parseFilter } from '../protocol/filter.js';
import type { FlowSummary } from '../protocol/flows.js';
import { API, EXPORT_FORMATS, type ExportFormat, type SessionListing, type WhoAmI } from '../protocol/wire.js';
import { isLoopback, looksProxied } from './access.js';
import type { EventRing } from './event-ring.js';
import type { SelfTests } from './self-test.js';

/** The session list, and recorded sessions opened read-only for the live view's "open a past session". */
export interface HubSessions {
  list(): Promise<SessionListing[]>;
  /**
   * A recorded session's events, oldest first, streamed from disk (the caller stops early with `return()`, which
   * closes the file). Null when `id` names no session. `id` has passed `isSafeSessionRef` but is still untrusted.
   */
  events?(id: string): Promise<AsyncGenerator<ProxyEvent> | null>;
  /** Every event of one connection of a recorded session, in order; null when `id` names no session. */
  connEvents?(id: string, conn: ConnId): Promise<ProxyEvent[] | null>;
}

export interface HubExportRequest {
  format: ExportFormat;
  /** A session id, a --session name or `latest`; null for the current session. */
  session: string | null;
  /** The filter text as typed (for the file name or logs), and its compiled form; null = everything. */
  filter: string | null;
  match: ((summary: FlowSummary) => boolean) | null;
}

export interface HubExport {
  /** Suggested file name, e.g. `mitmlab-20250101-1200.har`. */
  fileName: string;
  body: AsyncIterable<Uint8Array | string> | Readable;
}

/** Streams exports (server/store/). `open` returns null when the session does not exist. */
export interface HubExporter {
  open(request: HubExportRequest): Promise<HubExport | null>;
}

/** Events of connections the hub's memory no longer holds (e.g. the store's event log). */
export interface HubHistory {
  connEvents(conn: ConnId): Promise<ProxyEvent[] | null>;
}

/**
 * The lab CA the running proxy signs with. Held in memory, not read from disk per request: after a `mitmlab ca
 * rotate` the files hold a new CA that this process does not use until it restarts.
 */
export interface CaFiles {
  pem: string;
  der: Buffer;
  /** SHA-256 fingerprint of the certificate (DER). */
  sha256: string;
  /** Base64 SHA-256 of the SubjectPublicKeyInfo. */
  spki: string;
  /** The CA's subject as trust stores list it (CaFiles.subject of server/certs/ca.ts). */
  subject?: string;
  /** Expiry, ISO 8601. */
  notAfter?: string;
  /** The certificate file, as the start banner shows it. */
  path?: string;
}

export interface RestContext {
  blobs: BlobSink;
  ring: EventRing;
  selfTests: SelfTests;
  caFiles: CaFiles;
  sessions?: HubSessions | undefined;
  exporter?: HubExporter | undefined;
  history?: HubHistory | undefined;
}

const EXPORT_TYPES: Record<ExportFormat, string> = {
  // HAR is JSON (W3C HAR draft §1); JSON Lines has no registered type, x-ndjson is the common one.
  har: 'application/json; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
  keylog: 'text/plain; charset=utf-8',
  pcapng: 'application/x-pcapng',
};

const SHA256_PATTERN = /^[0-9a-f]{64}$/;
/**
 * What a session reference from a client may look like before the store sees it: letters, digits, '-' and '_' (store
 * ids are `2026-11-22T05-10-00Z-ab12`). No '.', '/', '\' or '%' can pass, so no path traversal whatever the store does.
 */
const SESSION_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
/** Serialized events per chunk written to the socket (one write per event would cost a syscall each). */
const JSONL_CHUNK_CHARS = 64 * 1024;
/** A media type token pair (RFC 9110 §8.3.1), without parameters. */
const MEDIA_TYPE_PATTERN = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** Answers an /api/ request; false when no route matches. */
export async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, ctx: RestContext): Promise<boolean> {
  const path = url.pathname;
  const get = req.method === 'GET' || req.method === 'HEAD';

  if (get && path.startsWith('/api/conns/') && path.endsWith('/events')) {
    const conn = safeDecode(path.slice('/api/conns/'.length, -'/events'.length));
    if (conn === null || conn.length === 0 || conn.length > 128) return sendText(res, 400, 'Bad connection id.');
    const kept = ctx.ring.connEventsJson(conn);
    let json = kept?.complete ? kept.json : null;
    // A connection the memory no longer holds whole (evicted, or past its per-connection bound: a long keep-alive or
    // WebSocket connection) is read from the session log; without one, the part kept is better than nothing.
    if (json === null && ctx.history) {
      const events = await ctx.history.connEvents(conn).catch(() => null);
      if (events !== null) json = JSON.stringify(events);
    }
    json ??= kept?.json ?? null;
    if (json === null) return sendText(res, 404, `No events kept for connection ${conn}.`);
    return sendJsonText(res, json);
  }

  if (get && path.startsWith('/api/bodies/')) {
    const sha256 = path.slice('/api/bodies/'.length);
    if (!SHA256_PATTERN.test(sha256)) return sendText(res, 400, 'Bodies are addressed by their SHA-256 in lowercase hex.');
    const data = await ctx.blobs.get(sha256).catch(() => null);
    if (data === null) return sendText(res, 404, 'This body is not stored (never captured, or evicted).');
    const requested = (url.searchParams.get('type') ?? '').toLowerCase();
    const type = MEDIA_TYPE_PATTERN.test(requested) ? requested : 'application/octet-stream';
    res.statusCode = 200;
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', data.length);
    // Captured content is never rendered live: a download, no sniffing, and a sandbox without scripts even if a
    // browser were to display it (CSP sandbox directive, CSP Level 3 §6.3.2).
    res.setHeader('Content-Disposition', contentDisposition('attachment', url.searchParams.get('name') ?? `${sha256.slice(0, 16)}.bin`));
    res.setHeader('Content-Security-Policy', "sandbox; default-src 'none'");
    // Bodies hold captured passwords and cookies: never written to the browser's disk cache, where they would outlive
    // `sessions --delete`.
    res.setHeader('Cache-Control', 'no-store');
    res.end(req.method === 'HEAD' ? undefined : data);
    return true;
  }

  const sessionRoute = /^\/api\/sessions\/([^/]+)\/(?:events|conns\/([^/]+)\/events)$/.exec(path);
  if (get && sessionRoute) {
    const id = safeDecode(sessionRoute[1]!);
    if (id === null || !isSafeSessionRef(id)) return sendText(res, 400, 'Bad session id: `mitmlab sessions` lists the ids.');
    if (sessionRoute[2] === undefined) return streamSessionEvents(req, res, id, ctx);
    const conn = safeDecode(sessionRoute[2]);
    if (conn === null || conn.length === 0 || conn.length > 128) return sendText(res, 400, 'Bad connection id.');
    if (!ctx.sessions?.connEvents) return sendText(res, 503, 'Past sessions need the session store, which is not running.');
    let events: ProxyEvent[] | null;
    try {
      events = await ctx.sessions.connEvents(id, conn);
    } catch (error) {
      return sendText(res, 500, `Cannot read session ${id}: ${(error as Error).message}`);
    }
    if (events === null) return sendText(res, 404, `No session ${id}.`);
    return sendJson(res, events);
  }

  if (get && path === API.sessions) {
    if (!ctx.sessions) return sendJson(res, []);
    try {
      return sendJson(res, await ctx.sessions.list());
    } catch (error) {
      return sendText(res, 500, `Cannot list sessions: ${(error as Error).message}`);
    }
  }

  if (get && path === '/api/export') return exportSession(res, url, ctx);

  if (get && (path === API.caPem || path === API.caDer)) {
    const pem = path === API.caPem;
    const data = pem ? Buffer.from(ctx.caFiles.pem) : ctx.caFiles.der;
    res.statusCode = 200;
    // application/x-x509-ca-cert makes Firefox and Android offer "trust this CA" (as mitmproxy's mitm.it does).
    res.setHeader('Content-Type', pem ? 'application/x-pem-file' : 'application/x-x509-ca-cert');
    res.setHeader('Content-Length', data.length);
    res.setHeader('Content-Disposition', contentDisposition('attachment', pem ? 'mitmlab-ca.pem' : 'mitmlab-ca.cer'));
    res.setHeader('Cache-Control', 'no-store');
    res.end(req.method === 'HEAD' ? undefined : data);
    return true;
  }

  if (get && path === API.whoami) {
    const who: WhoAmI = {
      peer: { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 },
      host: req.headers.host ?? '',
      proxied: looksProxied(req.headers),
      loopback: isLoopback(req.socket.remoteAddress),
    };
    return sendJson(res, who);
  }

  if (req.method === 'POST' && path === API.selfTestStart) return sendJson(res, ctx.selfTests.start(Date.now()));

  if (get && path.startsWith('/api/selftest/')) {
    const result = ctx.selfTests.result(path.slice('/api/selftest/'.length));
    return result ? sendJson(res, result) : sendText(res, 404, 'Unknown or expired self-test.');
  }

  return false;
}

async function exportSession(res: ServerResponse, url: URL, ctx: RestContext): Promise<boolean> {
  const format = url.searchParams.get('format') as ExportFormat | null;
  if (format === null || !EXPORT_FORMATS.includes(format)) {
    return sendText(res, 400, `format must be one of ${EXPORT_FORMATS.join(', ')}.`);
  }
  const filterText = url.searchParams.get('filter')?.trim() || null;
  let match: HubExportRequest['match'] = null;
  if (filterText !== null) {
    const parsed = parseFilter(filterText);
    if (!parsed.ok) return sendText(res, 400, `Bad filter at character ${parsed.offset + 1}: ${parsed.error}`);
    match = parsed.match;
  }
  if (!ctx.exporter) return sendText(res, 503, 'Exports need the session store, which is not running.');
  const session = url.searchParams.get('session') || null;
  let opened: HubExport | null;
  try {
    opened = await ctx.exporter.open({ format, session, filter: filterText, match });
  } catch (error) {
    return sendText(res, 500, `Export failed: ${(error as Error).message}`);
  }
  if (opened === null) return sendText(res, 404, `No session ${session ?? '(current)'}.`);
  res.statusCode = 200;
  res.setHeader('Content-Type', EXPORT_TYPES[format]);
  res.setHeader('Content-Disposition', contentDisposition('attachment', opened.fileName));
  res.setHeader('Cache-Control', 'no-store');
  // Streamed: a session can be far larger than memory. An error mid-way aborts the download (the browser shows it
  // as failed) rather than leaving a silently truncated file.
  const source = opened.body instanceof Readable ? opened.body : Readable.from(opened.body);
  await pipeline(source, res).catch(() => res.destroy());
  return true;
}

/**
 * A recorded session's events as JSON Lines (one ProxyEvent per line, oldest first), streamed from its log: memory
 * stays bounded whatever the session size, and a slow reader slows the file reads (pipeline's backpressure). A
 * client that goes away stops the read and closes the file. An error mid-way aborts the response, so a client never
 * mistakes a cut-off stream for the whole session.
 */
async function streamSessionEvents(req: IncomingMessage, res: ServerResponse, id: string, ctx: RestContext): Promise<boolean> {
  if (!ctx.sessions?.events) return sendText(res, 503, 'Past sessions need the session store, which is not running.');
  let events: AsyncGenerator<ProxyEvent> | null;
  try {
    events = await ctx.sessions.events(id);
  } catch (error) {
    return sendText(res, 500, `Cannot open session ${id}: ${(error as Error).message}`);
  }
  if (events === null) return sendText(res, 404, `No session ${id}: \`mitmlab sessions\` lists the recorded ones.`);
  res.statusCode = 200;
  res.setHeader('Content-Type', EXPORT_TYPES.jsonl);
  res.setHeader('Cache-Control', 'no-store');
  if (req.method === 'HEAD') {
    await events.return(undefined);
    res.end();
    return true;
  }
  // One chunk in flight at most: the file is read only as fast as the client takes it.
  const source = Readable.from(jsonLines(events), { objectMode: true, highWaterMark: 1 });
  await pipeline(source, res).catch(() => res.destroy());
  return true;
}

/** Serializes events as JSON Lines, in chunks of about `chunkChars`. */
export async function* jsonLines(events: AsyncIterable<ProxyEvent>, chunkChars = JSONL_CHUNK_CHARS): AsyncGenerator<string> {
  let chunk = '';
  for await (const event of events) {
    chunk += `${JSON.stringify(event)}\n`;
    if (chunk.length >= chunkChars) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** True when a client-supplied session reference is safe to hand to the store (it still checks existence). */
export function isSafeSessionRef(id: string): boolean {
  return SESSION_REF_PATTERN.test(id);
}

/** RFC 6266 Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 8187). */
export function contentDisposition(kind: 'attachment' | 'inline', fileName: string): string {
  const clean = fileName.replace(/[\\/\x00-\x1f\x7f]/g, '_').slice(0, 200) || 'download';
  const ascii = clean.replace(/[^\x20-\x7e]/g, '_').replace(/["%;]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(clean)}`;
}

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** A short text answer; returns true so handlers can `return sendText(...)`. */
export function sendText(res: ServerResponse, status: number, text: string): true {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`${text}\n`);
  return true;
}

function sendJson(res: ServerResponse, value: unknown): true {
  return sendJsonText(res, JSON.stringify(value));
}

function sendJsonText(res: ServerResponse, json: string): true {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(json);
  return true;
}
