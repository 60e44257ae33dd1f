// One recorded exchange (Flow): its id, clocks, captured request body and events, and the error page mitmlab answers
// with when it cannot relay the origin's answer. Used by http-exchange.ts and upstream-attempt.ts, it takes only
// types from them, so the files' value imports go one way.

import http from 'node:http';
import type { FlowTimings, HeaderList, InterimResponse } from '../protocol/events.js';
import { findSecrets, scansBody } from '../protocol/secrets.js';
import { BodyCapture, type CapturedBody } from './body-capture.js';
import type { ProxyContext } from './context.js';
import { errorHeaders, errorPageHtml } from './error-page.js';
import { hideValues, mediaType, rawHeader, recordedHeaders, rawHeaderList } from './headers.js';
import type { FailureAnswer } from './upstream-answer.js';
import { REUSED, type ConnectTimes } from './upstream-lane.js';
import type { ExchangeSite } from './http-exchange.js';

const flowIds = new WeakMap<http.IncomingMessage, string>();

/** The flow id given to `req`, for records made outside its exchange (the 400 for its malformed body). */
export function flowIdOf(req: http.IncomingMessage): string | null {
  return flowIds.get(req) ?? null;
}

/** One exchange's bookkeeping: ids, clocks, and the http-request event once the request body has ended. */
export class Flow {
  readonly id: string;
  readonly startedAt = Date.now();
  readonly t0 = performance.now();
  readonly headers: HeaderList;
  readonly url: string;
  readonly #capture: BodyCapture;
  #requestEmitted: Promise<void> | null = null;

  constructor(
    private readonly ctx: ProxyContext,
    readonly site: ExchangeSite,
    private readonly req: http.IncomingMessage,
    url: string,
  ) {
    this.id = `${site.conn}.${++site.flowCount}`;
    flowIds.set(req, this.id);
    const hidden = ctx.hiddenValues;
    this.url = hideValues(url, hidden);
    this.headers = this.#recorded(req.rawHeaders);
    this.#capture = new BodyCapture(ctx.config.bodyCap);
  }

  /** Request fields as recorded: the live view's token and session cookie hidden. */
  #recorded(raw: string[]): HeaderList {
    const hidden = this.ctx.hiddenValues;
    return hidden.length > 0 ? recordedHeaders(raw).map(([name, value]) => [name, hideValues(value, hidden)]) : recordedHeaders(raw);
  }

  /** Interim (1xx) responses the origin sent before the final one, for the http-response event (bounded). */
  readonly interim: InterimResponse[] = [];

  /**
   * Starts capturing the request body. Attaching the listener starts the body flowing, so this is called in the
   * same tick as the pipe to the origin (or a resume() when there is no origin).
   */
  captureRequest(): void {
    const req = this.req;
    req.on('data', (chunk: Buffer) => this.#capture.push(chunk));
    let resolveEmitted!: () => void;
    this.#requestEmitted = new Promise<void>((resolve) => (resolveEmitted = resolve));
    let done = false;
    // An answer sent before the body was all in (an early 413, an error page) makes Node's server let go of the
    // request: it then never ends nor closes, even when the client leaves. The connection's close records it then.
    const socket = req.socket;
    const onSocketClose = (): void => finish();
    const finish = (): void => {
      if (done) return;
      done = true;
      socket?.off('close', onSocketClose);
      const mime = mediaType(rawHeader(req.rawHeaders, 'content-type'));
      const recorded = this.#capture
        .finish(this.ctx.blobs, rawHeaderList(req.rawHeaders, 'content-encoding'), mime, req.complete)
        .catch(() => null)
        .then((body) => {
          this.ctx.bus.emit({
            type: 'http-request',
            id: this.id,
            conn: this.site.conn,
            method: req.method ?? 'GET',
            url: this.url,
            httpVersion: req.httpVersion,
            headers: this.headers,
            body: body?.ref ?? null,
            ...(req.rawTrailers.length > 0 ? { trailers: this.#recorded(req.rawTrailers) } : {}),
            client: this.site.client,
            at: this.startedAt,
          });
          this.emitSecrets(this.headers, body, mime, 'request');
          resolveEmitted();
        });
      this.ctx.unfinished.add(recorded);
    };
    req.once('end', finish);
    req.once('close', finish);
    socket?.once('close', onSocketClose);
  }

  /** Resolves once http-request is out, so http-response always follows it. */
  requestEmitted(): Promise<void> {
    return this.#requestEmitted ?? Promise.resolve();
  }

  emitSecrets(headers: HeaderList, body: CapturedBody | null | undefined, mime: string | null, direction: 'request' | 'response'): void {
    // Only the bodies the scan reads are decoded to text: not the HTML, scripts and images of every page.
    const scanned = body && scansBody(mime, direction);
    const secrets = findSecrets({ headers, url: this.url, body: scanned ? body.data.toString('utf8') : null, mimeType: mime, direction });
    if (secrets.length > 0) this.ctx.bus.emit({ type: 'secrets-found', id: this.id, conn: this.site.conn, secrets, at: Date.now() });
  }

  /** Writes mitmlab's error page (when the response has not started) and records it as a synthetic response. */
  sendErrorPage(res: http.ServerResponse, answer: FailureAnswer, timings: FlowTimings): void {
    // While mitmlab stops, a failure is its own doing and no page reaches the browser: record just that.
    if (this.ctx.stopping) return this.proxyError('stopped', 'mitmlab stopped before the response arrived; what had arrived is recorded.');
    const body = errorPageHtml(answer);
    const headers = errorHeaders(answer, body);
    if (!res.headersSent && !res.destroyed) {
      res.sendDate = false; // errorHeaders() has the Date: the page goes out with exactly the headers recorded for it
      res.writeHead(answer.status, headers);
      res.end(body);
    }
    const captured = Buffer.from(body);
    const recorded = this.requestEmitted().then(() => {
      this.ctx.bus.emit({
        type: 'http-response',
        id: this.id,
        conn: this.site.conn,
        status: answer.status,
        statusText: http.STATUS_CODES[answer.status] ?? '',
        httpVersion: '1.1',
        headers: Object.entries(headers),
        body: { sha256: this.ctx.blobs.put(captured), size: captured.length, wireSize: captured.length, truncated: false, encoding: null, decoded: false, mimeType: 'text/html' },
        timings,
        synthetic: true,
        at: Date.now(),
      });
      this.ctx.bus.emit({ type: 'proxy-error', conn: this.site.conn, id: this.id, code: answer.code, status: answer.status, message: answer.detail, at: Date.now() });
    });
    this.ctx.unfinished.add(recorded);
  }

  /** The client left at the point `when` names; while mitmlab stops, it is mitmlab that cut the exchange short. */
  clientLeft(when: string): void {
    if (this.ctx.stopping) this.proxyError('stopped', `mitmlab stopped ${when}; what had arrived is recorded.`);
    else this.proxyError('client-aborted', `The client disconnected ${when}.`);
  }

  /**
   * Records why the exchange failed. While mitmlab stops, both legs close under it in no set order, so what would read
   * as the client leaving or the origin cutting off is mitmlab stopping, said once.
   */
  proxyError(code: 'client-aborted' | 'upstream-reset' | 'stopped', message: string): void {
    if (this.ctx.stopping && code !== 'stopped') return this.proxyError('stopped', 'mitmlab stopped before the exchange was over; what had arrived is recorded.');
    if (code === 'stopped') {
      if (this.#stopReported) return;
      this.#stopReported = true;
    }
    this.ctx.bus.emit({ type: 'proxy-error', conn: this.site.conn, id: this.id, code, status: null, message, at: Date.now() });
  }

  #stopReported = false;
}

/**
 * Answers with mitmlab's error page, capturing the request body. A body that is all in, or one the client sends only
 * after "100 Continue" (RFC 9110 §10.1.1), is read first, which keeps keep-alive in step. A body still on its way
 * (a slow or stalled upload) does not hold the answer back: it goes out at once and closes the connection, as a
 * server may answer before the request is complete (RFC 9112 §9.6).
 */
export function answerAfterBody(flow: Flow, req: http.IncomingMessage, res: http.ServerResponse, answer: FailureAnswer, opened: ConnectTimes = REUSED): void {
  flow.captureRequest();
  const sendPage = (page: FailureAnswer): void => {
    const total = performance.now() - flow.t0;
    flow.sendErrorPage(res, page, { startedAt: flow.startedAt, connect: opened.connect, ssl: opened.ssl, send: 0, wait: 0, receive: 0, total });
  };
  req.resume();
  if (req.complete || expectsContinue(req)) {
    if (!req.complete && !res.headersSent) res.writeContinue();
    req.once('end', () => sendPage(answer));
    // A client that leaves before the body it was asked for is complete gets no page; the failure is still recorded.
    req.once('close', () => {
      if (!req.complete) flow.clientLeft('before sending the whole request body');
    });
    return;
  }
  sendPage({ ...answer, extraHeaders: { ...answer.extraHeaders, connection: 'close' } });
}

/** True when the client waits for "100 Continue" before sending its body (RFC 9110 §10.1.1). */
export function expectsContinue(req: http.IncomingMessage): boolean {
  return req.httpVersion === '1.1' && /^\s*100-continue\s*$/i.test(rawHeader(req.rawHeaders, 'expect') ?? '');
}

export function timings(flow: Flow, opened: ConnectTimes, sentAt: number, responseAt: number): FlowTimings {
  // An answer that came before the request was all sent (an early 413, a refused upload) ends the send there.
  if (responseAt >= 0 && (sentAt < 0 || sentAt > responseAt)) sentAt = responseAt;
  const send = sentAt >= 0 ? Math.max(0, sentAt - flow.t0 - Math.max(opened.connect, 0)) : 0;
  const wait = responseAt >= 0 && sentAt >= 0 ? Math.max(0, responseAt - sentAt) : 0;
  return { startedAt: flow.startedAt, connect: opened.connect, ssl: opened.ssl, send, wait, receive: 0, total: 0 };
}
