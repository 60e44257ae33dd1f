// WebSocket relay (RFC 6455): mitmlab completes the upstream handshake first, then accepts the browser's, and copies
// messages both ways with the `ws` package, logging each one (direction, opcode, size, capped payload).

import type http from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { MAX_WS_MESSAGE_BYTES } from './config.js';
import type { ProxyContext } from './context.js';
import type { ExchangeSite } from './http-exchange.js';
import { forwardableHeaders, hideValues, rawHeader, recordedHeaders, sendableReason } from './headers.js';
import { failureAnswer } from './upstream-answer.js';
import { rawErrorResponse, type ErrorAnswer } from './error-page.js';
import { utf8Cut } from '../protocol/utf8.js';
import { findSecrets, findSecretsInWsMessage } from '../protocol/secrets.js';
import type { HeaderList } from '../protocol/events.js';

export interface WsTarget {
  /** ws:// or wss:// URL of the origin. */
  url: string;
  host: string;
  port: number;
  /** Opens (or reuses) the connection to the origin: TCP for ws://, verified TLS for wss://. */
  connect: () => Promise<Duplex>;
}

/** Fields of the origin's 101 that ws writes itself for the browser's handshake. */
const UPGRADE_ANSWER_FIELDS: ReadonlySet<string> = new Set(['sec-websocket-accept', 'sec-websocket-extensions', 'sec-websocket-protocol']);

// The ws library writes its own handshake fields; the browser's would conflict (RFC 6455 §4.1).
const HANDSHAKE_FIELDS: ReadonlySet<string> = new Set([
  'host',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

// Pause the sending side while this many messages wait to be written on the other side.
const MAX_PENDING_MESSAGES = 64;

const MAX_PAYLOAD = MAX_WS_MESSAGE_BYTES;

/** How long a stop waits for the close frames it sends to leave (ms). */
const STOP_FLUSH_MS = 250;

/** Bytes a browser may send before the origin's 101 (it should send none) before its connection is closed. */
const MAX_EARLY_BYTES = 1024 * 1024;

/** Relays one WebSocket session between the browser and the origin. */
export async function relayWebSocket(
  ctx: ProxyContext,
  site: ExchangeSite,
  req: http.IncomingMessage,
  clientSocket: Duplex,
  head: Buffer,
  target: WsTarget,
): Promise<void> {
  const id = `${site.conn}.${++site.flowCount}`;
  const startedAt = Date.now();
  const t0 = performance.now();
  const httpUrl = target.url.replace(/^ws/, 'http');
  const recordedUrl = hideValues(httpUrl, ctx.hiddenValues);
  const requestHeaders: HeaderList = recordedHeaders(req.rawHeaders).map(([name, value]) => [name, hideValues(value, ctx.hiddenValues)]);
  ctx.bus.emit({
    type: 'http-request',
    id,
    conn: site.conn,
    method: req.method ?? 'GET',
    url: recordedUrl,
    httpVersion: req.httpVersion,
    headers: requestHeaders,
    body: null,
    client: site.client,
    at: startedAt,
  });
  /** The handshake's credentials (a session cookie, a bearer token, a token in the URL) are exposed as any request's. */
  const emitSecrets = (headers: HeaderList, direction: 'request' | 'response'): void => {
    const secrets = findSecrets({ headers, url: recordedUrl, body: null, mimeType: null, direction });
    if (secrets.length > 0) ctx.bus.emit({ type: 'secrets-found', id, conn: site.conn, secrets, at: Date.now() });
  };
  emitSecrets(requestHeaders, 'request');
  clientSocket.on('error', () => clientSocket.destroy());
  // Check the browser's half of the handshake before opening anything upstream (RFC 6455 §4.2.1): a bad key or
  // version is answered here and never costs an origin connection.
  const problem = handshakeProblem(req);
  if (problem) {
    if (!clientSocket.destroyed) clientSocket.end(rawErrorResponse(problem));
    ctx.bus.emit({ type: 'proxy-error', conn: site.conn, id, code: 'bad-request', status: problem.status, message: problem.detail, at: Date.now() });
    return;
  }

  /** The exchange has its outcome (handed over, refused by the origin, failed, or the browser left). */
  let settled = false;
  const fail = (error: unknown): void => {
    if (settled) return;
    settled = true;
    if (ctx.stopping) {
      clientSocket.destroy();
      ctx.bus.emit({ type: 'proxy-error', conn: site.conn, id, code: 'stopped', status: null, message: 'mitmlab stopped before the origin answered the WebSocket upgrade.', at: Date.now() });
      return;
    }
    const answer = failureAnswer(target.host, target.port, error);
    if (!clientSocket.destroyed) clientSocket.end(rawErrorResponse(answer));
    ctx.bus.emit({ type: 'proxy-error', conn: site.conn, id, code: answer.code, status: answer.status, message: answer.detail, at: Date.now() });
  };

  // Declared before anything that may use them: the browser can leave while the origin is still being reached.
  let handedOver = false;
  let upstreamRef: WebSocket | null = null;
  let upstreamSocket: Duplex | null = null;
  // Until the origin answers, the browser's side is read too: a browser that leaves (FIN) is noticed at once (a
  // paused socket never sees its end), and what it sends meanwhile, which RFC 6455 §4.1 says it should not, is kept
  // for the relay, up to a bound.
  const early: Buffer[] = [head];
  let earlyBytes = head.length;
  const onEarlyData = (chunk: Buffer): void => {
    earlyBytes += chunk.length;
    if (earlyBytes > MAX_EARLY_BYTES) clientSocket.destroy();
    else early.push(chunk);
  };
  const onEarlyEnd = (): void => {
    if (settled) return;
    settled = true;
    upstreamRef?.terminate();
    upstreamSocket?.destroy();
    clientSocket.destroy();
    const message = ctx.stopping ? 'mitmlab stopped before the origin answered the WebSocket upgrade.' : 'The client disconnected before the origin answered the WebSocket upgrade.';
    ctx.bus.emit({ type: 'proxy-error', conn: site.conn, id, code: ctx.stopping ? 'stopped' : 'client-aborted', status: null, message, at: Date.now() });
  };
  clientSocket.on('data', onEarlyData);
  clientSocket.once('end', onEarlyEnd);
  clientSocket.once('close', onEarlyEnd);
  // Called in the same turn as the hand-over, whose own listeners take the stream from there.
  const stopWatching = (): void => {
    clientSocket.off('data', onEarlyData);
    clientSocket.off('end', onEarlyEnd);
    clientSocket.off('close', onEarlyEnd);
  };

  let socket: Duplex;
  try {
    socket = await target.connect();
  } catch (error) {
    fail(error);
    return;
  }
  upstreamSocket = socket;
  const protocols = (rawHeader(req.rawHeaders, 'sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const headers = pairsToObject(forwardableHeaders(req.rawHeaders, undefined, HANDSHAKE_FIELDS));
  // The browser may leave before the origin's 101: then the origin side must go too (nothing else would close it).
  clientSocket.once('close', () => {
    if (!handedOver) upstreamRef?.terminate();
  });
  if (clientSocket.destroyed) {
    socket.destroy();
    return;
  }
  // Compression is asked of the origin only when the browser offered it, and the browser gets it only when the origin
  // agreed (below): both ends see the extension they would have seen without mitmlab (RFC 6455 §9.1).
  const browserOffersDeflate = /\bpermessage-deflate\b/i.test(rawHeader(req.rawHeaders, 'sec-websocket-extensions') ?? '');
  const upstream = new WebSocket(target.url, protocols, {
    createConnection: () => socket as never,
    headers,
    perMessageDeflate: browserOffersDeflate,
    // Pings and pongs go to the real peer, which answers them itself (pump relays both).
    autoPong: false,
    handshakeTimeout: ctx.config.timeouts.connectMs,
    maxPayload: MAX_PAYLOAD,
  });
  upstreamRef = upstream;
  // Every field of the origin's 101, as for any response (upstream-request.ts): ws's own request keeps node:http's
  // default count, which drops fields past about the thousandth. Its parser is set up a tick later, so this holds.
  const handshakeRequest = (upstream as unknown as { _req?: http.ClientRequest | null })._req;
  if (handshakeRequest) handshakeRequest.maxHeadersCount = 0;

  upstream.once('unexpected-response', (_request, response) => {
    settled = true;
    stopWatching();
    // The origin refused the upgrade: pass its answer on and record it as an ordinary response.
    const status = response.statusCode ?? 502;
    const lines = [`HTTP/1.1 ${status} ${sendableReason(response.statusMessage)}`];
    const raw = forwardableHeaders(response.rawHeaders);
    for (let i = 0; i + 1 < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
    clientSocket.write(lines.join('\r\n') + '\r\nconnection: close\r\n\r\n');
    response.pipe(clientSocket);
    const responseHeaders = recordedHeaders(response.rawHeaders);
    ctx.bus.emit({
      type: 'http-response',
      id,
      conn: site.conn,
      status,
      statusText: response.statusMessage ?? '',
      httpVersion: response.httpVersion,
      headers: responseHeaders,
      body: null,
      timings: { startedAt, connect: -1, send: 0, wait: performance.now() - t0, receive: 0, total: performance.now() - t0 },
      synthetic: false,
      at: Date.now(),
    });
    emitSecrets(responseHeaders, 'response');
  });
  // Until the browser's side is handed over, an origin error is a failed handshake: the browser gets the answer. (ws
  // sets CLOSING before it emits such errors, so the state does not tell.)
  let upgradeResponse: http.IncomingMessage | null = null;
  upstream.once('upgrade', (response) => (upgradeResponse = response));
  upstream.once('error', (error) => {
    if (handedOver) return;
    // ws emits 'upgrade' for the origin's 101 before checking it: an error after that is the origin's invalid
    // handshake (its errors carry no code of their own), not a failure to reach it.
    fail(upgradeResponse ? Object.assign(new Error(error.message), { code: 'BAD_WEBSOCKET_ANSWER' }) : error);
  });
  // Until the browser's side is open there is nobody to relay the origin's pings to: mitmlab answers them meanwhile.
  const answerEarlyPing = (data: Buffer): void => upstream.pong(data);
  upstream.on('ping', answerEarlyPing);
  upstream.once('open', () => {
    // The browser gets the subprotocol the origin chose (RFC 6455 §4.2.2), and compression when the origin agreed to
    // it; a server object per upgrade keeps those choices local.
    const chosen = upstream.protocol || false;
    const acceptor = new WebSocketServer({
      noServer: true,
      perMessageDeflate: /\bpermessage-deflate\b/.test(upstream.extensions),
      maxPayload: MAX_PAYLOAD,
      autoPong: false,
      handleProtocols: () => chosen,
    });
    // The origin's other 101 fields (Set-Cookie, its own headers) reach the browser too; ws writes the handshake ones.
    acceptor.on('headers', (lines: string[]) => {
      const raw = upgradeResponse ? forwardableHeaders(upgradeResponse.rawHeaders, undefined, UPGRADE_ANSWER_FIELDS) : [];
      for (let i = 0; i + 1 < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
    });
    // If ws still refuses the browser's handshake, the origin side must not be left open.
    acceptor.on('wsClientError', (error, socket) => {
      upstream.terminate();
      if (!socket.destroyed) socket.end(rawErrorResponse({ status: 400, title: 'Bad WebSocket handshake', detail: error.message }));
      ctx.bus.emit({ type: 'proxy-error', conn: site.conn, id, code: 'bad-request', status: 400, message: `The browser's WebSocket handshake was refused: ${error.message}`, at: Date.now() });
    });
    if (clientSocket.destroyed || settled) {
      upstream.terminate();
      return;
    }
    handedOver = true;
    settled = true;
    stopWatching();
    acceptor.handleUpgrade(req, clientSocket, Buffer.concat(early), (browser) => {
      const elapsed = performance.now() - t0;
      const switchingHeaders = upgradeResponse ? recordedHeaders(upgradeResponse.rawHeaders) : [];
      ctx.bus.emit({
        type: 'http-response',
        id,
        conn: site.conn,
        status: 101,
        statusText: 'Switching Protocols',
        httpVersion: '1.1',
        headers: switchingHeaders,
        body: null,
        timings: { startedAt, connect: -1, send: 0, wait: elapsed, receive: 0, total: elapsed },
        synthetic: false,
        at: Date.now(),
      });
      emitSecrets(switchingHeaders, 'response');
      ctx.bus.emit({
        type: 'ws-open',
        id,
        conn: site.conn,
        url: hideValues(target.url, ctx.hiddenValues),
        protocol: upstream.protocol || null,
        extensions: upstream.extensions || null,
        at: Date.now(),
      });
      upstream.off('ping', answerEarlyPing);
      pump(ctx, site.conn, id, browser, upstream, 'send');
      pump(ctx, site.conn, id, upstream, browser, 'receive');
      linkClose(ctx, site.conn, id, browser, upstream);
    });
  });
}

/** Copies messages from one side to the other, pausing the source while the destination is backed up. */
function pump(ctx: ProxyContext, conn: string, id: string, from: WebSocket, to: WebSocket, direction: 'send' | 'receive'): void {
  let pending = 0;
  /** Records one frame's message: `kept` is its payload within --ws-cap; `text` the same as text, for a text message. */
  const record = (opcode: 1 | 2 | 9 | 10, payload: Buffer, kept: Buffer, deliverable: boolean, text?: string): void => {
    ctx.bus.emit({
      type: 'ws-message',
      id,
      conn,
      direction,
      opcode,
      size: payload.length,
      data: text ?? kept.toString('base64'),
      truncated: kept.length < payload.length,
      ...(deliverable ? {} : { undelivered: true as const }),
      at: Date.now(),
    });
  };
  from.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const cap = ctx.config.wsCap;
    const kept = buffer.length <= cap ? buffer : buffer.subarray(0, isBinary ? cap : utf8Cut(buffer, cap));
    // A close from the other side may already be under way (ws answers a close frame at once): what arrives then is
    // recorded, but as not passed on.
    const deliverable = to.readyState === WebSocket.OPEN;
    const text = isBinary ? undefined : kept.toString('utf8');
    record(isBinary ? 2 : 1, buffer, kept, deliverable, text);
    // A login over a WebSocket shows its password as plainly as a form post does.
    if (text !== undefined) {
      const secrets = findSecretsInWsMessage(text, direction);
      if (secrets.length > 0) ctx.bus.emit({ type: 'secrets-found', id, conn, secrets, at: Date.now() });
    }
    if (!deliverable) return;
    pending++;
    if (pending >= MAX_PENDING_MESSAGES) from.pause();
    to.send(buffer, { binary: isBinary }, () => {
      pending--;
      if (pending < MAX_PENDING_MESSAGES / 2 && from.isPaused) from.resume();
    });
  });
  // Control frames are relayed as they come, unsolicited pongs (heartbeats, RFC 6455 §5.5.3) included, and recorded:
  // a heartbeat is part of what the two ends said (payload at most 125 bytes, §5.5; --ws-cap applies as to messages).
  const control = (opcode: 9 | 10, data: Buffer): void => {
    const deliverable = to.readyState === WebSocket.OPEN;
    record(opcode, data, data.subarray(0, ctx.config.wsCap), deliverable);
    if (!deliverable) return;
    if (opcode === 9) to.ping(data);
    else to.pong(data);
  };
  from.on('ping', (data: Buffer) => control(9, data));
  from.on('pong', (data: Buffer) => control(10, data));
}

/**
 * A close on either side closes the other with the same code (RFC 6455 §7.4: 1005/1006 are never sent). A connection
 * that dropped without a close frame (1006, §7.1.5) is dropped on the other side too, so it does not look clean.
 * A peer that breaks the protocol gets a close frame from ws (1002, 1007 or 1009, §7.4.1), and the other peer the
 * same code; a stop sends both 1001. Either way the record says mitmlab closed, and why.
 */
function linkClose(ctx: ProxyContext, conn: string, id: string, browser: WebSocket, upstream: WebSocket): void {
  let reported = false;
  const report = (code: number, reason: string, by: 'client' | 'server' | 'mitmlab'): void => {
    if (reported) return;
    reported = true;
    ctx.bus.emit({ type: 'ws-close', id, conn, code, reason, by, at: Date.now() });
  };
  const closeBoth = (code: number, reason: string): void => {
    for (const side of [browser, upstream]) {
      if (side.readyState === WebSocket.OPEN) side.close(code, reason);
      else if (side.readyState === WebSocket.CONNECTING) side.terminate();
    }
  };
  const onStop = async (): Promise<void> => {
    report(1001, 'mitmlab stopped', 'mitmlab');
    // Nothing more is read or relayed: a peer flooding messages must not keep the stop busy.
    browser.pause();
    upstream.pause();
    closeBoth(1001, 'mitmlab stopped');
    // The stop destroys the sockets next: give the close frames the moment they need to go out. A peer that is not
    // reading keeps them queued behind its unread messages, and does not hold the stop up (the bound is wall-clock
    // time: timers run late on a busy loop).
    const queued = (side: WebSocket): boolean => side.readyState !== WebSocket.CLOSED && side.bufferedAmount > 0;
    const deadline = performance.now() + STOP_FLUSH_MS;
    while (performance.now() < deadline && (queued(browser) || queued(upstream))) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  ctx.openWebSockets.add(onStop);
  const onClose = (by: 'client' | 'server', other: WebSocket) => (code: number, reason: Buffer) => {
    ctx.openWebSockets.delete(onStop);
    report(code, reason.toString('utf8'), by);
    if (other.readyState === WebSocket.OPEN) {
      if (code === 1006) other.terminate();
      else if (code === 1005 || code < 1000) other.close();
      else other.close(code, reason);
    } else if (other.readyState === WebSocket.CONNECTING) other.terminate();
  };
  const onError = (by: 'client' | 'server', self: WebSocket) => (error: Error) => {
    const status = protocolViolationStatus(error);
    if (status === null) return void self.terminate();
    // ws has already sent the offender its close frame with `status`, and waits for the reply (or its timeout). The
    // close is recorded first, then why: the flow ends failed, with the reason.
    const reason = closeReason(error.message);
    report(status, reason, 'mitmlab');
    const who = by === 'client' ? 'browser' : 'origin';
    ctx.bus.emit({
      type: 'proxy-error',
      conn,
      id,
      code: by === 'client' ? 'bad-request' : 'upstream-bad-response',
      status: null,
      message: `The ${who} broke the WebSocket protocol (${error.message}); mitmlab closed both sides with ${status}.`,
      at: Date.now(),
    });
    closeBoth(status, reason);
  };
  browser.on('close', onClose('client', upstream));
  upstream.on('close', onClose('server', browser));
  browser.on('error', onError('client', browser));
  upstream.on('error', onError('server', upstream));
}

/**
 * The close code ws sent a peer whose frames it refused (§7.4.1: 1002 protocol error, 1007 text that is not UTF-8
 * or a corrupt compressed frame, 1008, 1009 too large), or null for other errors (a reset). ws puts that code on
 * the error under its own symbol, Symbol('status-code') (ws/lib/receiver.js, permessage-deflate.js); it is read
 * by its description, as ws does not export it.
 */
function protocolViolationStatus(error: object): number | null {
  const symbol = Object.getOwnPropertySymbols(error).find((key) => key.description === 'status-code');
  const status = symbol ? (error as Record<symbol, unknown>)[symbol] : undefined;
  return typeof status === 'number' ? status : null;
}

/** A close reason fits in a control frame: 123 bytes of UTF-8 (RFC 6455 §5.5). */
function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}

/** What is wrong with the browser's upgrade request, as the answer to send, or null. */
function handshakeProblem(req: http.IncomingMessage): ErrorAnswer | null {
  if (req.method !== 'GET') return { status: 400, title: 'Bad WebSocket handshake', detail: 'a WebSocket upgrade must be a GET (RFC 6455 §4.1)' };
  const key = req.headers['sec-websocket-key'];
  // The key is 16 random bytes in base64: 24 characters ending in "==" (RFC 6455 §4.1, item 7).
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) {
    return { status: 400, title: 'Bad WebSocket handshake', detail: 'the Sec-WebSocket-Key header is missing or is not 16 bytes in base64' };
  }
  // Subprotocols are distinct tokens (RFC 6455 §4.1 item 10, RFC 9110 §5.6.2).
  const offered = (req.headers['sec-websocket-protocol'] ?? '').toString();
  if (offered !== '') {
    const list = offered.split(',').map((p) => p.trim());
    if (list.some((p) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(p)) || new Set(list).size !== list.length) {
      return { status: 400, title: 'Bad WebSocket handshake', detail: 'Sec-WebSocket-Protocol must list distinct tokens' };
    }
  }
  if (req.headers['sec-websocket-version'] !== '13') {
    return {
      status: 426,
      title: 'Unsupported WebSocket version',
      detail: 'only Sec-WebSocket-Version 13 is supported (RFC 6455 §4.4)',
      extraHeaders: { 'sec-websocket-version': '13' },
    };
  }
  return null;
}

function pairsToObject(flat: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i]!;
    const existing = out[name];
    out[name] = existing === undefined ? flat[i + 1]! : ([] as string[]).concat(existing, flat[i + 1]!);
  }
  return out;
}
