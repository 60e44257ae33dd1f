// The explicit proxy: one listener that speaks HTTP/1.1 to browsers (absolute-form requests and CONNECT), plus an
// internal HTTP layer (never listening) that parses the requests decrypted from intercepted TLS connections.

import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../protocol/events.js';
import { normalizeHost } from '../certs/hostnames.js';
import { formatAuthority, hostFieldProblem, parseConnectTarget } from './connect-target.js';
import type { ProxyContext } from './context.js';
import { connectTcp } from './destination.js';
import { rawErrorResponse, type ErrorAnswer } from './error-page.js';
import { answerWithError, flowIdOf, forwardExchange, type ExchangeSite } from './http-exchange.js';
import { handleConnect, interceptedConnection } from './intercept.js';
import { inAnyCidr, isLocalAddress, isOwnEndpoint } from './policy.js';
import { failureAnswer } from './upstream-answer.js';
import { markParseError } from './parse-errors.js';
import { PipelineHold } from './pipelining.js';
import { openVerifiedUpstream, PlainAgent } from './upstream-agents.js';
import { relayWebSocket } from './ws-relay.js';
import type { ProxyErrorCode } from '../protocol/events.js';

function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

function notWebSocket(req: http.IncomingMessage): string {
  return `only WebSocket upgrades are relayed, not ${JSON.stringify(req.headers.upgrade ?? '')}; such a request is answered without the upgrade only when nothing follows its head (this one has a body)`;
}

/**
 * An upgrade mitmlab does not relay (h2c, as `curl --http2` asks for on http:// URLs) on a request without a body is
 * answered as the plain HTTP/1.1 request it also is: RFC 9110 §7.8 lets a server ignore Upgrade, and the field is
 * hop-by-hop, so it does not go on to the origin. Node's server hands every Upgrade request to 'upgrade' and lets
 * go of the connection, so the answer closes it. A request with a body cannot be answered this way: Node has already
 * read past its head.
 */
function declinableUpgrade(req: http.IncomingMessage, head: Buffer): boolean {
  const length = req.headers['content-length'];
  return head.length === 0 && req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0);
}

/** Hands a declined upgrade to the server's 'request' handlers with a response that closes the connection after it. */
function answerWithoutUpgrade(server: http.Server, req: http.IncomingMessage, socket: Duplex): void {
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  // Node's server no longer reads this socket: read it here (nothing may follow the head; anything that does is
  // dropped), so that a client that leaves (FIN) before its answer is noticed, as on any other connection.
  const onEnd = (): void => void socket.destroy();
  socket.once('end', onEnd);
  socket.resume();
  res.once('finish', () => {
    socket.off('end', onEnd);
    res.detachSocket(socket as Socket);
    endAnswered(socket);
  });
  server.emit('request', req, res);
}

function safeUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/** How long a stop waits for the recording of connections it closed (ms). */
const STOP_DRAIN_LIMIT_MS = 3_000;

export interface RunningProxy {
  host: string;
  port: number;
  close(): Promise<void>;
}

interface ClientConnection extends ExchangeSite {
  socket: Socket;
  /** performance.now() when the connection was accepted: the client leg's time zero. */
  openedAt: number;
  /** Requests in flight on this connection. */
  active: number;
}

/** What the handlers of one running proxy share. */
interface ProxyState {
  ctx: ProxyContext;
  /** The listener: HTTP/1.1 from browsers (absolute-form requests and CONNECT). */
  front: http.Server;
  /** Never listens: parses the requests decrypted from intercepted TLS connections. */
  inner: http.Server;
  connections: Map<Socket, ClientConnection>;
  /** The requests each connection has in flight, and the error pages waiting for their answers. */
  pipelining: PipelineHold;
  /** Connections already refused for a parse error. */
  refused: WeakSet<Duplex>;
  plainAgent: PlainAgent;
}

/** Starts the proxy listener. The context's loop guard must already list the live view's port, if any. */
export async function startProxy(ctx: ProxyContext): Promise<RunningProxy> {
  const connections = new Map<Socket, ClientConnection>();
  const pipelining = new PipelineHold();
  const refused = new WeakSet<Duplex>();
  const plainAgent = new PlainAgent(ctx);
  const { front, inner } = createServers(ctx);
  const proxy: ProxyState = { ctx, front, inner, connections, pipelining, refused, plainAgent };
  addHandlers(proxy);
  const port = await listen(front, ctx);
  return {
    host: ctx.config.listenHost,
    port,
    close: () => stopProxy(proxy),
  };
}

/** The two HTTP/1.1 servers: `front` for the listener, `inner` for decrypted streams (never listening). */
function createServers(ctx: ProxyContext): { front: http.Server; inner: http.Server } {
  const serverOptions: http.ServerOptions = {
    maxHeaderSize: ctx.config.maxHeaderSize,
    headersTimeout: ctx.config.timeouts.headersMs,
    requestTimeout: 0, // bodies stream for as long as they need; idle sockets time out instead
    keepAliveTimeout: ctx.config.timeouts.idleMs,
    // Node checks --headers-timeout on this period; its default (30 s) would make the limit that coarse.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(ctx.config.timeouts.headersMs / 4))),
    noDelay: true,
    // A missing Host gets mitmlab's own 400 with a reason and an event (refuseBadHost), not Node's empty one.
    requireHostHeader: false,
  };
  const front = http.createServer(serverOptions);
  const inner = http.createServer(serverOptions);
  // node:http keeps only the first 2,000 header lines' worth of fields by default and drops the rest without a
  // word; --max-header-size already bounds the head, so every field in it is read (and relayed, and recorded).
  front.maxHeadersCount = 0;
  inner.maxHeadersCount = 0;
  // The inner server never listens on a port (it parses decrypted streams), but Node only tracks a server's
  // connections — headersTimeout, closeAllConnections() — from its 'listening' event: start that tracking here.
  inner.emit('listening');
  return { front, inner };
}

/** Every handler on both servers, registered in this order. */
function addHandlers(proxy: ProxyState): void {
  const { front, inner } = proxy;
  front.on('connection', (socket: Socket) => acceptConnection(proxy, socket));
  closeIdleConnections(proxy);

  // Expect: 100-continue is the origin's to answer (RFC 9110 §10.1.1): without these listeners Node's server would send
  // "100 Continue" itself, and the client would upload a body the origin may refuse.
  front.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => front.emit('request', req, res));
  inner.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => inner.emit('request', req, res));

  front.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => forwardAbsoluteForm(proxy, req, res));
  front.on('connect', (req: http.IncomingMessage, socket: Socket, head: Buffer) => openTunnel(proxy, req, socket, head));
  front.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => relayAbsoluteFormUpgrade(proxy, req, socket, head));

  inner.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => forwardDecrypted(proxy, req, res));
  inner.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => relayDecryptedUpgrade(proxy, req, socket, head));
  inner.on('connect', (req: http.IncomingMessage, socket: Duplex) => refuseNestedConnect(proxy, req, socket));

  for (const server of [front, inner]) {
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(proxy, error, socket));
  }
}

/** Records a proxy-error event. */
function emitError(ctx: ProxyContext, conn: string | null, code: ProxyErrorCode, status: number | null, message: string, id: string | null = null): void {
  ctx.bus.emit({ type: 'proxy-error', conn, id, code, status, message, at: Date.now() });
}

/** A browser's connection to the listener: refused unless local or in --allow, otherwise recorded until it closes. */
function acceptConnection({ ctx, connections }: ProxyState, socket: Socket): void {
  // Node's server stops listening for errors on a socket it hands to 'connect'/'upgrade'; a reset after that would
  // be an uncaught exception. This listener stays for the socket's whole life.
  socket.on('error', () => socket.destroy());
  const client: Endpoint = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  const conn = ctx.nextConnId();
  if (!isLocalAddress(client.address, []) && !inAnyCidr(client.address, ctx.config.allow)) {
    emitError(ctx, conn, 'client-not-allowed', null, `Refused a connection from ${client.address}: it is not in --allow.`);
    socket.destroy();
    return;
  }
  const site: ClientConnection = { conn, client, flowCount: 0, socket, active: 0, openedAt: performance.now() };
  connections.set(socket, site);
  ctx.bus.emit({ type: 'connection-open', conn, client, mode: 'explicit', at: Date.now() });
  const closeRecorded = ctx.unfinished.begin();

  socket.once('close', () => {
    connections.delete(socket);
    closeRecorded();
    ctx.bus.emit({ type: 'connection-close', conn, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten, at: Date.now() });
  });
}

/**
 * Idle connections close after --idle-timeout. Node's server arms the socket timer (server.timeout) and, since we
 * listen for 'timeout', leaves the decision to us: a connection waiting for its response is not idle (the
 * upstream side has its own timeout and answers 504).
 */
function closeIdleConnections({ ctx, front, inner, connections }: ProxyState): void {
  front.timeout = ctx.config.timeouts.idleMs;
  front.on('timeout', (socket: Socket) => {
    const site = connections.get(socket);
    if (!site || site.active === 0) socket.destroy();
  });
  inner.timeout = ctx.config.timeouts.idleMs;
  inner.on('timeout', (socket: Duplex) => {
    const state = interceptedConnection(socket);
    if (!state || state.active === 0) socket.destroy();
  });
}

/** Absolute-form requests (RFC 9112 §3.2.2): plain http:// forwarding. */
function forwardAbsoluteForm({ ctx, connections, pipelining, plainAgent }: ProxyState, req: http.IncomingMessage, res: http.ServerResponse): void {
  const site = connections.get(req.socket as Socket);
  if (!site) return void res.destroy();
  const url = parseAbsoluteHttpUrl(req.url);
  if (!url.ok) {
    emitError(ctx, site.conn, url.code, 400, url.detail);
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(`${url.title}: ${url.detail}\n`);
    return;
  }
  if (refuseBadHost(ctx, req, res, site.conn)) return;
  pipelining.hold(req, res, site);
  forwardExchange(ctx, site, req, res, {
    host: url.host,
    port: url.port,
    path: url.path,
    url: url.href,
    route: { kind: 'agent', agent: plainAgent },
    // RFC 9112 §3.2.2: a proxy replaces the received Host with the absolute-form target's authority.
    replaceHost: true,
  });
}

/** CONNECT to the listener: refused for a bad target or one that loops back to mitmlab, else handed to intercept.ts. */
function openTunnel({ ctx, inner, connections }: ProxyState, req: http.IncomingMessage, socket: Socket, head: Buffer): void {
  const site = connections.get(socket);
  if (!site) return void socket.destroy();
  const target = parseConnectTarget(req.url);
  if (!target.ok) {
    emitError(ctx, site.conn, 'bad-connect-target', 400, target.reason);
    refuse(socket, { status: 400, title: 'Bad CONNECT target', detail: target.reason });
    return;
  }
  ctx.bus.emit({ type: 'connect', conn: site.conn, host: target.host, port: target.port, at: Date.now() });
  const literal =
    ctx.config.resolve.get(target.host) ??
    (target.kind === 'ip' ? target.host : target.host === 'localhost' || target.host.endsWith('.localhost') ? '127.0.0.1' : null);
  if (literal && isOwnEndpoint(literal, target.port, ctx.destination.own)) {
    const answer = failureAnswer(target.host, target.port, { code: 'LOOP_REFUSED' });
    emitError(ctx, site.conn, answer.code, answer.status, answer.detail);
    refuse(socket, answer);
    return;
  }
  handleConnect(ctx, inner, socket, head, site, target).catch((error: unknown) => {
    emitError(ctx, site.conn, 'internal', null, `CONNECT ${req.url} failed: ${String(error)}`);
    socket.destroy();
  });
}

/** ws:// through the proxy in absolute form. */
function relayAbsoluteFormUpgrade({ ctx, front, connections }: ProxyState, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const site = connections.get(socket as Socket);
  if (!site) return void socket.destroy();
  const url = parseAbsoluteHttpUrl(req.url);
  if (!url.ok) return refuseUpgrade(ctx, site.conn, socket, url.detail);
  if (!isWebSocketUpgrade(req) && declinableUpgrade(req, head)) return answerWithoutUpgrade(front, req, socket);
  if (!isWebSocketUpgrade(req)) return refuseUpgrade(ctx, site.conn, socket, notWebSocket(req));
  relayWebSocket(ctx, site, req, socket, head, {
    url: url.href.replace(/^http/, 'ws'),
    host: url.host,
    port: url.port,
    connect: async () => (await connectTcp(url.host, url.port, ctx.destination, site.client.address)).socket,
  }).catch((error: unknown) => relayFailed(ctx, site.conn, socket, error));
}

/** Decrypted requests from intercepted connections. */
function forwardDecrypted({ ctx, pipelining }: ProxyState, req: http.IncomingMessage, res: http.ServerResponse): void {
  const state = interceptedConnection(req.socket);
  if (!state) return void res.destroy();
  state.requests++;
  if (refuseBadHost(ctx, req, res, state.conn)) return;
  pipelining.hold(req, res, state);
  ctx.recentUse.mark(state.client.address, state.certHost, Date.now());
  // Absolute-form targets are allowed inside the tunnel too (RFC 9112 §3.2.2); their path is what goes upstream.
  const absolute = /^https?:\/\//i.test(req.url ?? '') ? safeUrl(req.url!) : null;
  const path = absolute ? `${absolute.pathname}${absolute.search}` : req.url?.startsWith('/') ? req.url : '/';
  // The URL names where the request really goes, the tunnel's authority, as for WebSockets below; the Host line
  // the client sent stays visible among the recorded headers.
  const url = `https://${state.authority}${path}`;
  if (state.failure || !state.lane) {
    answerWithError(ctx, state, req, res, url, state.failure ?? failureAnswer(state.target.host, state.target.port, null));
    return;
  }
  forwardExchange(ctx, state, req, res, {
    host: state.target.host,
    port: state.target.port,
    path,
    url,
    route: { kind: 'lane', lane: state.lane },
  });
}

/** wss:// inside an intercepted connection. */
function relayDecryptedUpgrade({ ctx, inner }: ProxyState, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const state = interceptedConnection(socket);
  if (!state) return void socket.destroy();
  if (!isWebSocketUpgrade(req) && declinableUpgrade(req, head)) return answerWithoutUpgrade(inner, req, socket);
  state.requests++;
  if (!isWebSocketUpgrade(req)) return refuseUpgrade(ctx, state.conn, socket, notWebSocket(req));
  if (state.failure) {
    refuse(socket, state.failure);
    return;
  }
  // The URL comes from the tunnel's own authority and an origin-form path, never from a raw Host line.
  const path = req.url?.startsWith('/') ? req.url : null;
  if (!path) {
    refuse(socket, { status: 400, title: 'Bad upgrade request', detail: 'a WebSocket upgrade needs an origin-form target such as /chat' });
    return;
  }
  relayWebSocket(ctx, state, req, socket, head, {
    url: `wss://${state.authority}${path}`,
    host: state.target.host,
    port: state.target.port,
    connect: async () => state.lane?.takeIdle() ?? (await openVerifiedUpstream(ctx, state.conn, state.upstreamTarget)).socket,
  }).catch((error: unknown) => relayFailed(ctx, state.conn, socket, error));
}

/** CONNECT inside an intercepted tunnel: nested tunnels are not relayed (RFC 9110 §9.3.6 lets a proxy refuse). */
function refuseNestedConnect({ ctx }: ProxyState, req: http.IncomingMessage, socket: Duplex): void {
  const state = interceptedConnection(socket);
  if (state) state.requests++;
  emitError(ctx, state?.conn ?? null, 'bad-request', 405, `A CONNECT to ${req.url ?? ''} arrived inside an intercepted tunnel; mitmlab does not nest tunnels.`);
  refuse(socket, { status: 405, title: 'CONNECT inside a tunnel', detail: 'mitmlab does not open a tunnel inside an intercepted connection.' });
}

/** Records and answers an upgrade mitmlab does not relay (400, with the reason in the page and the event). */
function refuseUpgrade(ctx: ProxyContext, conn: string, socket: Duplex, detail: string): void {
  emitError(ctx, conn, 'bad-request', 400, detail);
  refuse(socket, { status: 400, title: 'Bad upgrade request', detail });
}

function relayFailed(ctx: ProxyContext, conn: string, socket: Duplex, error: unknown): void {
  emitError(ctx, conn, 'internal', null, `The WebSocket relay failed: ${(error as Error).message ?? String(error)}`);
  socket.destroy();
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without Host, with more than one, or with one that is not a valid
 * `host[:port]` (RFC 9110 §7.2) gets a 400.
 */
function refuseBadHost(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, conn: string): boolean {
  const detail = hostFieldProblem(req.rawHeaders, req.httpVersion);
  if (detail === null) return false;
  emitError(ctx, conn, 'bad-request', 400, detail);
  res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`Malformed request: ${detail}\n`);
  return true;
}

/** Node's parser errors on either server: one event and one answer per connection, after the answers ahead of it. */
function answerClientError({ ctx, connections, pipelining, refused }: ProxyState, error: NodeJS.ErrnoException, socket: Duplex): void {
  const intercepted = interceptedConnection(socket);
  // Something arrived: whatever it was, this is no silent certificate rejection.
  if (intercepted) intercepted.requests++;
  const conn = connections.get(socket as Socket)?.conn ?? intercepted?.conn ?? null;
  if (error.code?.startsWith('HPE_') && error.code !== 'HPE_INVALID_EOF_STATE') markParseError(socket, error);
  const answer = clientErrorAnswer(error);
  if (!answer) return void socket.destroy();
  // The parser repeats its error for every later chunk: one event and one answer per connection.
  if (refused.has(socket)) return;
  refused.add(socket);
  const counter = connections.get(socket as Socket) ?? intercepted;
  const requests = counter ? pipelining.requests(counter) : undefined;
  // A request whose own body is the malformed part is the one this 400 answers: the record links them.
  const unfinished = requests ? [...requests].find((req) => !req.complete) : undefined;
  emitError(ctx, conn, answer.code, answer.status, answer.detail, unfinished ? flowIdOf(unfinished) : null);
  // Requests parsed before the malformed one are answered first, in order (RFC 9112 §9.3.2), and the error page
  // follows them. The request whose own body is the malformed part (if any) is never answered.
  if (counter && requests && [...requests].some((req) => req.complete)) {
    pipelining.refuseWhenAnswered(counter, () => refuse(socket, answer));
    return;
  }
  const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (current?.headersSent) return void socket.destroy();
  refuse(socket, answer);
}

/** Listens on --listen-host/--listen-port; resolves with the port (the ephemeral one, when 0 was asked for). */
async function listen(front: http.Server, ctx: ProxyContext): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(ctx.config.listenPort, ctx.config.listenHost, () => {
      front.off('error', reject);
      resolve();
    });
  });
  const address = front.address();
  return typeof address === 'object' && address ? address.port : ctx.config.listenPort;
}

/** Stops the proxy: WebSockets are closed, every connection is cut, and the recording of what they showed waits. */
async function stopProxy({ ctx, front, inner, connections, plainAgent }: ProxyState): Promise<void> {
  ctx.stopping = true;
  const closed = new Promise<void>((resolve) => front.close(() => resolve()));
  // WebSockets first: each peer gets a close frame (1001, going away) before its socket is destroyed.
  await Promise.all([...ctx.openWebSockets].map((closeWebSocket) => closeWebSocket()));
  for (const socket of connections.keys()) socket.destroy();
  for (const socket of ctx.upstreamSockets) socket.destroy();
  front.closeAllConnections();
  inner.closeAllConnections();
  plainAgent.destroy();
  await closed;
  // What the open connections had shown (transcripts, a response's head and body so far, an upload so far) is
  // recorded as they close; the session log waits for it, within a bound.
  await ctx.unfinished.drained(STOP_DRAIN_LIMIT_MS);
}

type UrlResult =
  | { ok: true; host: string; port: number; path: string; href: string }
  | { ok: false; code: ProxyErrorCode; title: string; detail: string };

/** Validates an absolute-form http:// request target. */
function parseAbsoluteHttpUrl(raw: string | undefined): UrlResult {
  if (!raw || raw.startsWith('/') || raw === '*') {
    return {
      ok: false,
      code: 'not-a-proxy-request',
      title: 'This is a proxy',
      detail: 'mitmlab is an HTTP proxy: configure your browser or curl (--proxy) to use it, and open the live view URL printed at start.',
    };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, code: 'bad-request', title: 'Bad request target', detail: `cannot parse the request URL ${JSON.stringify(raw.slice(0, 200))}` };
  }
  if (url.protocol !== 'http:') {
    return { ok: false, code: 'bad-request', title: 'Unsupported scheme', detail: `only http:// is forwarded in absolute form; use CONNECT for ${url.protocol}//` };
  }
  const host = normalizeHost(url.hostname);
  if (host.kind === 'invalid') return { ok: false, code: 'bad-request', title: 'Bad host', detail: host.reason };
  const name = host.kind === 'ip' ? host.address : host.name;
  const port = url.port ? Number(url.port) : 80;
  // WHATWG URL accepts port 0, which no origin listens on (RFC 6335 §6: reserved): as for CONNECT, the request is wrong.
  if (port === 0) return { ok: false, code: 'bad-request', title: 'Bad port', detail: 'port 0 is out of range 1–65535' };
  return { ok: true, host: name, port, path: `${url.pathname}${url.search}`, href: `http://${formatAuthority(name, port, 80)}${url.pathname}${url.search}` };
}

/** Node's parser errors (llhttp codes) as answers: 431 for oversized heads, 408 for slow ones, 400 otherwise. */
function clientErrorAnswer(error: NodeJS.ErrnoException): (ErrorAnswer & { code: ProxyErrorCode }) | null {
  const code = error.code ?? '';
  // Transport failures (resets, TLS alerts on the decrypted stream) have nobody left to answer.
  // HPE_INVALID_EOF_STATE is llhttp's word for a connection that ended mid-message: a client that left.
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'HPE_INVALID_EOF_STATE' || code.startsWith('ERR_SSL') || code.startsWith('ERR_STREAM')) return null;
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { code: 'headers-too-large', status: 431, title: 'Request header fields too large', detail: 'The request head is larger than --max-header-size allows (RFC 6585 §5).' };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') {
    return { code: 'timeout', status: 408, title: 'Request timeout', detail: 'The request head did not arrive in time.' };
  }
  const reason = (error as { reason?: string }).reason ?? error.message;
  return { code: 'bad-request', status: 400, title: 'Malformed request', detail: `mitmlab could not parse the request: ${reason}.` };
}

/** How long a refused connection may stay open after its answer, for the client to read it and close. */
const REFUSED_LINGER_MS = 5_000;

function refuse(socket: Duplex, answer: ErrorAnswer): void {
  if (socket.destroyed || !socket.writable) return void socket.destroy();
  endAnswered(socket, rawErrorResponse(answer));
}

/**
 * Ends a connection Node's server no longer looks after (a refused one, a declined upgrade) once it is answered.
 * Whatever the client still sends is read and dropped, so that its close is seen: a paused socket never sees its
 * end, and stayed open. A client that keeps it open anyway is cut off.
 */
function endAnswered(socket: Duplex, last?: string): void {
  if (last === undefined) socket.end();
  else socket.end(last);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
}
