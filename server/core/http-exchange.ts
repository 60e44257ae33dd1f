// One HTTP exchange through mitmlab: the request streams to the origin and the response streams back, while bounded
// copies of both bodies are captured and the exchange becomes http-request / http-response events.
// Used for plain http:// requests and for requests decrypted from an intercepted TLS connection.

import http from 'node:http';
import { pipeline } from 'node:stream';
import type { Endpoint, FlowTimings, HeaderList } from '../protocol/events.js';
import { findSecrets } from '../protocol/secrets.js';
import { BodyCapture, type CapturedBody } from './body-capture.js';
import type { ProxyContext } from './context.js';
import { errorHeaders, errorPageHtml } from './error-page.js';
import { forwardableHeaders, mediaType, pairHeaders, rawHeader } from './headers.js';
import { failureAnswer, type FailureAnswer } from './upstream-answer.js';

/** The connection an exchange belongs to. */
export interface ExchangeSite {
  conn: string;
  client: Endpoint;
  /** Counts flows in this connection: ids are `conn.n`. */
  flowCount: number;
}

/** Where one request goes. */
export interface ExchangeTarget {
  host: string;
  port: number;
  /** Origin-form path sent upstream. */
  path: string;
  /** Absolute URL, for events. */
  url: string;
  agent: http.Agent;
  /** ms the request waited for a new upstream connection, or -1 when one was reused. */
  connectMs?: () => number;
}

// Transfer-Encoding is hop-by-hop, but keeping it lets Node re-frame the body the same way on the next hop.
// Expect: 100-continue was already answered by Node's server on this hop (RFC 9110 §10.1.1).
const KEEP_TRANSFER_ENCODING: ReadonlySet<string> = new Set(['transfer-encoding']);
const NOT_FORWARDED: ReadonlySet<string> = new Set(['expect']);

/** Starts a flow: returns its id and a function that emits http-request once the request body has ended. */
function beginFlow(ctx: ProxyContext, site: ExchangeSite, req: http.IncomingMessage, url: string) {
  const id = `${site.conn}.${++site.flowCount}`;
  const startedAt = Date.now();
  const t0 = performance.now();
  const capture = new BodyCapture(ctx.config.bodyCap);
  req.on('data', (chunk: Buffer) => capture.push(chunk));
  const headers: HeaderList = pairHeaders(req.rawHeaders);
  const requestEmitted = new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const contentType = rawHeader(req.rawHeaders, 'content-type');
      const mime = mediaType(contentType);
      capture
        .finish(ctx.blobs, rawHeader(req.rawHeaders, 'content-encoding'), mime)
        .catch(() => null)
        .then((body) => {
          ctx.bus.emit({
            type: 'http-request',
            id,
            conn: site.conn,
            method: req.method ?? 'GET',
            url,
            httpVersion: req.httpVersion,
            headers,
            body: body?.ref ?? null,
            client: site.client,
            at: startedAt,
          });
          emitSecrets(ctx, id, site.conn, headers, url, body, mime, 'request');
          resolve();
        });
    };
    req.once('end', finish);
    req.once('close', finish);
  });
  return { id, startedAt, t0, requestEmitted };
}

function emitSecrets(
  ctx: ProxyContext,
  id: string,
  conn: string,
  headers: HeaderList,
  url: string,
  body: CapturedBody | null | undefined,
  mime: string | null,
  direction: 'request' | 'response',
): void {
  // Only textual bodies can hold form fields or JSON keys; binary ones are not decoded.
  const textual = body && mime && /^(application\/(x-www-form-urlencoded|json|.*\+json)|text\/)/.test(mime);
  const secrets = findSecrets({
    headers,
    url,
    body: textual ? body.data.toString('utf8') : null,
    mimeType: mime,
    direction,
  });
  if (secrets.length > 0) ctx.bus.emit({ type: 'secrets-found', id, conn, secrets, at: Date.now() });
}

/** Answers the browser with mitmlab's own error page and records the exchange (the request is still captured). */
export function answerWithError(
  ctx: ProxyContext,
  site: ExchangeSite,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: string,
  answer: FailureAnswer,
): void {
  const flow = beginFlow(ctx, site, req, url);
  req.resume(); // read (and capture) the request body before answering, so keep-alive stays in sync
  req.once('end', () => {
    const total = performance.now() - flow.t0;
    sendErrorPage(ctx, site, flow, res, answer, { startedAt: flow.startedAt, connect: -1, send: 0, wait: 0, receive: 0, total });
  });
}

type Flow = ReturnType<typeof beginFlow>;

/** Writes mitmlab's error page (when the response has not started) and records it as a synthetic response. */
function sendErrorPage(ctx: ProxyContext, site: ExchangeSite, flow: Flow, res: http.ServerResponse, answer: FailureAnswer, flowTimings: FlowTimings): void {
  const body = errorPageHtml(answer);
  const headers = errorHeaders(answer, body);
  if (!res.headersSent && !res.destroyed) {
    res.writeHead(answer.status, headers);
    res.end(body);
  }
  const captured = Buffer.from(body);
  void flow.requestEmitted.then(() => {
    ctx.bus.emit({
      type: 'http-response',
      id: flow.id,
      conn: site.conn,
      status: answer.status,
      statusText: http.STATUS_CODES[answer.status] ?? '',
      httpVersion: '1.1',
      headers: Object.entries(headers),
      body: { sha256: ctx.blobs.put(captured), size: captured.length, wireSize: captured.length, truncated: false, encoding: null, decoded: false, mimeType: 'text/html' },
      timings: flowTimings,
      synthetic: true,
      at: Date.now(),
    });
    ctx.bus.emit({ type: 'proxy-error', conn: site.conn, id: flow.id, code: answer.code, status: answer.status, message: answer.detail, at: Date.now() });
  });
}

/** Forwards one request to the origin and streams the response back. */
export function forwardExchange(
  ctx: ProxyContext,
  site: ExchangeSite,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: ExchangeTarget,
): void {
  const flow = beginFlow(ctx, site, req, target.url);
  const headers = forwardableHeaders(req.rawHeaders, KEEP_TRANSFER_ENCODING, NOT_FORWARDED);
  if (rawHeader(headers, 'host') === undefined) headers.push('Host', hostHeader(target));
  let sentAt = -1;
  let responseAt = -1;
  let clientGone = false;

  const upstreamReq = http.request({
    agent: target.agent,
    host: target.host,
    port: target.port,
    method: req.method,
    path: target.path,
    headers,
    setHost: false,
  });
  upstreamReq.once('finish', () => (sentAt = performance.now()));
  // An origin that accepts the request and then goes silent gets a 504 after --idle-timeout of inactivity.
  upstreamReq.setTimeout(ctx.config.timeouts.idleMs, () => {
    upstreamReq.destroy(Object.assign(new Error(`${target.host} did not answer in time`), { code: 'RESPONSE_TIMEOUT' }));
  });

  pipeline(req, upstreamReq, (error) => {
    if (error && !req.complete) {
      clientGone = true;
      upstreamReq.destroy();
      ctx.bus.emit({
        type: 'proxy-error',
        conn: site.conn,
        id: flow.id,
        code: 'client-aborted',
        status: null,
        message: 'The client disconnected before sending the whole request body.',
        at: Date.now(),
      });
    }
  });

  upstreamReq.once('error', (error) => {
    if (clientGone) return;
    if (res.headersSent) {
      res.destroy();
      ctx.bus.emit({ type: 'proxy-error', conn: site.conn, id: flow.id, code: 'upstream-reset', status: null, message: `The origin ${target.host} broke off the response: ${error.message}`, at: Date.now() });
      return;
    }
    const answer = failureAnswer(target.host, target.port, error);
    sendErrorPage(ctx, site, flow, res, answer, timings(flow.startedAt, flow.t0, target, sentAt, responseAt));
  });

  upstreamReq.once('response', (upstreamRes) => {
    responseAt = performance.now();
    const capture = new BodyCapture(ctx.config.bodyCap);
    upstreamRes.on('data', (chunk: Buffer) => capture.push(chunk));
    const status = upstreamRes.statusCode ?? 502;
    if (!res.destroyed) {
      res.writeHead(status, upstreamRes.statusMessage, forwardableHeaders(upstreamRes.rawHeaders, KEEP_TRANSFER_ENCODING));
    }
    pipeline(upstreamRes, res, (error) => {
      const endAt = performance.now();
      const resHeaders = pairHeaders(upstreamRes.rawHeaders);
      const mime = mediaType(rawHeader(upstreamRes.rawHeaders, 'content-type'));
      if (error) {
        ctx.bus.emit({
          type: 'proxy-error',
          conn: site.conn,
          id: flow.id,
          code: upstreamRes.complete ? 'client-aborted' : 'upstream-reset',
          status: null,
          message: upstreamRes.complete
            ? 'The client disconnected before receiving the whole response.'
            : `The response from ${target.host} was cut off: ${error.message}`,
          at: Date.now(),
        });
      }
      void capture
        .finish(ctx.blobs, rawHeader(upstreamRes.rawHeaders, 'content-encoding'), mime)
        .catch(() => null)
        .then(async (body) => {
          await flow.requestEmitted;
          const t = timings(flow.startedAt, flow.t0, target, sentAt, responseAt);
          t.receive = endAt - responseAt;
          t.total = endAt - flow.t0;
          ctx.bus.emit({
            type: 'http-response',
            id: flow.id,
            conn: site.conn,
            status,
            statusText: upstreamRes.statusMessage ?? '',
            httpVersion: upstreamRes.httpVersion,
            headers: resHeaders,
            body: body?.ref ?? null,
            timings: t,
            synthetic: false,
            at: Date.now(),
          });
          emitSecrets(ctx, flow.id, site.conn, resHeaders, target.url, body, mime, 'response');
        });
    });
  });
}

function timings(startedAt: number, t0: number, target: ExchangeTarget, sentAt: number, responseAt: number): FlowTimings {
  const connect = target.connectMs ? target.connectMs() : -1;
  const send = sentAt >= 0 ? Math.max(0, sentAt - t0 - Math.max(connect, 0)) : 0;
  const wait = responseAt >= 0 && sentAt >= 0 ? Math.max(0, responseAt - sentAt) : 0;
  return { startedAt, connect, send, wait, receive: 0, total: 0 };
}

function hostHeader(target: ExchangeTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return target.port === 443 || target.port === 80 ? host : `${host}:${target.port}`;
}
