// One attempt at sending a request to the origin and relaying its answer to the browser (send, UpstreamAttempt), with
// the checks that keep Node from throwing on what the origin sent. The hot path: see http-exchange.ts.

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { BodyCapture, bodyPart } from './body-capture.js';
import type { ProxyContext } from './context.js';
import { answerAfterBody, expectsContinue, timings, type Flow } from './exchange-flow.js';
import { forwardableHeaders, mediaType, pairHeaders, rawHeader, recordedHeaders, rawHeaderList, sendableReason, transferCodings } from './headers.js';
import type { ExchangeTarget } from './http-exchange.js';
import { parseErrorOf } from './parse-errors.js';
import { failureAnswer } from './upstream-answer.js';
import { keptAlive, REUSED, type ConnectTimes, type UpstreamLane } from './upstream-lane.js';
import { takeConnectMs } from './upstream-agents.js';
import { openUpstreamRequest, resendable, upstreamHeaders } from './upstream-request.js';

/** How a request fails on a connection the origin had closed: its FIN ("socket hang up"), its reset, a write after. */
const CLOSED_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/**
 * Sends the request to the origin, on the lane's `socket` or (when it is null) through the pool's agent, and relays the
 * answer. Building the head and opening the request happen here; the attempt's handlers live in UpstreamAttempt.
 */
export function send(
  ctx: ProxyContext,
  flow: Flow,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: ExchangeTarget,
  socket: Duplex | null,
  /** This is the one retry of a request whose kept-alive origin connection had closed (see retryOnFresh). */
  retry = false,
): void {
  const lane = target.route.kind === 'lane' ? target.route.lane : null;
  const headers = upstreamHeaders(req, target);
  let upstreamReq: http.ClientRequest;
  try {
    upstreamReq = openUpstreamRequest(flow, req, target, headers, socket);
  } catch (error) {
    // Node refuses to write this request (a value its checks reject): an answer, never an uncaught exception.
    if (lane) lane.release(socket, false);
    return answerAfterBody(flow, req, res, failureAnswer(target.host, target.port, { code: 'UNSENDABLE_REQUEST', message: (error as Error).message }));
  }
  new UpstreamAttempt(ctx, flow, req, res, target, lane, socket, upstreamReq, retry).start();
}

/**
 * A transfer coding other than chunked (RFC 9112 §7: gzip, deflate…) is still on the body Node hands over, which
 * Node only de-chunks: its Transfer-Encoding goes on as it came (added to `head`), and Node, seeing chunked last,
 * chunks the body. A client that cannot be sent it (HTTP/1.0, or chunked not last) gets a 502 rather than coded bytes
 * unlabelled: the reason is returned, or null.
 */
function relayTransferCodings(
  req: http.IncomingMessage,
  status: number,
  head: string[],
  codings: string[],
  otherCodings: string[],
): { code: string; message: string } | null {
  const hasContent = req.method !== 'HEAD' && status !== 204 && status !== 304;
  if (otherCodings.length === 0 || !hasContent) return null;
  if (req.httpVersion === '1.1' && codings.at(-1) === 'chunked') {
    head.push('Transfer-Encoding', codings.join(', '));
    return null;
  }
  return { code: 'UNRELAYABLE_TRANSFER_CODING', message: `Transfer-Encoding: ${codings.join(', ')}` };
}

/**
 * One attempt at an exchange's upstream request (a retry is a second one): the state its handlers share, on the
 * browser's request and response and on the origin's. Fields rather than locals captured by closures, so each step
 * reads as a method; the handlers are still created once per attempt, none per chunk.
 */
class UpstreamAttempt {
  /** Filled in when the agent opens a new connection for this request (plain http://). */
  #opened: ConnectTimes;
  /** Set when this attempt handed the exchange to a retry: its own handlers then stand down. */
  #handedOver = false;
  #sentAt = -1;
  #responseAt = -1;
  #clientGone = false;
  /** mitmlab itself broke off the answer to the browser, and said why: its 'close' is not the client leaving. */
  #brokenOff = false;
  #resetReported = false;
  #laneReleased = false;
  #upstreamResponse: http.IncomingMessage | null = null;
  #upstreamFailed = false;
  /** The exchange was answered with mitmlab's error page (and recorded so) after the origin's head had arrived. */
  #answeredWithError = false;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly flow: Flow,
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly target: ExchangeTarget,
    private readonly lane: UpstreamLane | null,
    /** The lane's origin connection; null when the pool's agent gives one. */
    private readonly socket: Duplex | null,
    private readonly upstreamReq: http.ClientRequest,
    private readonly retry: boolean,
  ) {
    this.#opened = lane ? lane.lastConnect : REUSED;
  }

  /**
   * Adds the handlers and sends the request. The steps keep this order: handlers of one event run in the order they
   * were added (pipe() adds its own in between).
   */
  start(): void {
    const upstreamReq = this.upstreamReq;
    this.#holdConnection();
    // "Sent" is when the whole request was handed to the origin's socket ('prefinish': Node's OutgoingMessage emits it
    // once end() was called and its output flushed to an assigned socket). 'finish' waits for the socket's write
    // callback, which over a TLS leg comes a setImmediate later: under load the response was often read before it,
    // and the exchange was recorded with send and wait 0.
    upstreamReq.once('prefinish', () => (this.#sentAt = performance.now()));
    this.#relayInterim();
    // An origin that accepts the request and then goes silent gets a 504 after --idle-timeout of inactivity.
    upstreamReq.setTimeout(this.ctx.config.timeouts.idleMs, () => {
      upstreamReq.destroy(Object.assign(new Error(`${this.target.host} did not answer in time`), { code: 'RESPONSE_TIMEOUT' }));
    });
    this.#sendBody();
    this.#watchUpload();
    this.#watchClientClose();
    this.#watchOrigin();
  }

  /** Gives the lane its connection back once the exchange is done with it; times a connection the agent opens. */
  #holdConnection(): void {
    const socket = this.socket;
    if (socket) {
      socket.once('free', () => this.#releaseLane(true));
      // The socket is handed back ('free') right after the request's 'close'; anything else means it is spent.
      this.upstreamReq.once('close', () => process.nextTick(() => this.#releaseLane(false)));
    } else {
      this.upstreamReq.once('socket', (agentSocket) => {
        const connect = takeConnectMs(agentSocket);
        if (connect >= 0) this.#opened = { connect, ssl: -1 };
      });
    }
  }

  /** Once per attempt: the first of 'free' and the failures decides whether the lane may reuse the connection. */
  #releaseLane(reusable: boolean): void {
    if (!this.lane || this.#laneReleased) return;
    this.#laneReleased = true;
    this.lane.release(this.socket, reusable);
  }

  /** Interim responses go on to the browser before the final one (RFC 9110 §15.2). */
  #relayInterim(): void {
    const req = this.req;
    const res = this.res;
    const flow = this.flow;
    this.upstreamReq.on('continue', () => {
      if (req.httpVersion === '1.1' && !res.headersSent && !res.destroyed) res.writeContinue();
    });
    this.upstreamReq.on('information', (info: http.InformationEvent) => {
      // Recorded too (a handful at most: an origin could send 1xx without end, RFC 9110 §15.2 sets no limit).
      if (flow.interim.length < MAX_INTERIM) {
        flow.interim.push({ status: info.statusCode, statusText: info.statusMessage ?? '', headers: recordedHeaders(info.rawHeaders), at: Date.now() });
      }
      forwardInterim(req, res, info);
    });
  }

  /** Streams the browser's body (and its trailer fields) to the origin; a retry, which has none, only ends the request. */
  #sendBody(): void {
    const req = this.req;
    const upstreamReq = this.upstreamReq;
    if (this.retry) {
      // The request had no body, and the first attempt captured it: it is only sent again.
      upstreamReq.end();
      return;
    }
    this.flow.captureRequest();
    // Trailer fields go on with the body they end (RFC 9110 §6.5), before pipe() ends the request.
    const forwardRequestTrailers = (): void => {
      if (req.rawTrailers.length > 0) addSendableTrailers(upstreamReq, req.rawTrailers);
    };
    if (req.complete) forwardRequestTrailers();
    else req.once('end', forwardRequestTrailers);
    req.pipe(upstreamReq);
  }

  /** The browser's body stops short (the client left, or its framing broke), or is no longer wanted (answered). */
  #watchUpload(): void {
    const req = this.req;
    const upstreamReq = this.upstreamReq;
    req.once('error', (error: NodeJS.ErrnoException) => this.#uploadAborted(error));
    req.once('close', () => this.#uploadAborted());
    // The origin answered before the whole body came (a refused 100-continue, an early 413): the rest has nowhere to go.
    this.res.once('finish', () => {
      if (req.complete) return;
      req.unpipe(upstreamReq);
      upstreamReq.destroy();
      // A client that waited for "100 Continue" may never send it: close rather than wait (RFC 9110 §10.1.1). Any
      // other body is read and dropped, which keeps the connection in step.
      if (expectsContinue(req)) req.destroy();
      else req.resume();
    });
  }

  /** The browser's request errored or closed: before its end, the origin exchange is abandoned. */
  #uploadAborted(error?: NodeJS.ErrnoException): void {
    const req = this.req;
    if (req.complete || this.#clientGone) return;
    this.#clientGone = true;
    this.upstreamReq.destroy();
    // The answer was complete before the body (a refused 100-continue, an error page) and the client kept it, or
    // mitmlab closed the connection after it: nothing was cut short.
    if (this.#upstreamResponse?.complete || this.res.writableFinished) return;
    // A body the parser rejects (bad chunk framing) is the client's malformed request, not a client that left;
    // Node's server answers it 400 through 'clientError' (which may come just after this), and the proxy records
    // that 400 with this flow's id (flowIdOf).
    setImmediate(() => {
      const parseError = error?.code?.startsWith('HPE_') ? error : parseErrorOf(req.socket);
      if (!parseError) this.flow.clientLeft('before sending the whole request body');
    });
  }

  /**
   * A kept-alive origin connection can close in the moment a request is sent on it (the origin's idle limit ran out),
   * and the request then fails before any answer. One without a body and with an idempotent method is sent once more
   * on a new connection, as RFC 9110 §9.2.2 allows; RFC 9112 §9.3.1 forbids it for the others, which are kept off
   * connections idle long enough for that to be likely instead (OriginPool.tooIdleFor). True when it was sent again.
   */
  #retryOnFresh(error: NodeJS.ErrnoException | null): boolean {
    const { ctx, flow, req, res, target, lane, socket } = this;
    if (this.retry || !lane || !socket || !keptAlive(socket) || this.#clientGone || this.#upstreamResponse || flow.interim.length > 0 || res.headersSent) return false;
    if (!resendable(req) || !req.complete) return false;
    if (error && !CLOSED_CONNECTION_CODES.has(error.code ?? '')) return false;
    this.#handedOver = true;
    // The retry keeps the lane (requests pipelined behind this one keep their order) and releases it when done.
    this.#laneReleased = true;
    // The browser may leave while the new connection is opened: its exchange then ends as it would have here.
    lane.reopen().then(
      (fresh) => {
        if (!res.destroyed) return send(ctx, flow, req, res, target, fresh, true);
        lane.release(fresh, true);
        flow.clientLeft('before the response arrived');
      },
      (failure: unknown) => {
        if (res.destroyed) return flow.clientLeft('before the response arrived');
        flow.sendErrorPage(res, failureAnswer(target.host, target.port, failure), timings(flow, lane.lastConnect, -1, -1));
      },
    );
    return true;
  }

  /**
   * The browser may leave at any point — also after sending its whole request, before the origin answers: then the
   * origin exchange is abandoned at once (its connection is not reusable) instead of lingering to a timeout.
   */
  #watchClientClose(): void {
    const req = this.req;
    const res = this.res;
    res.once('close', () => {
      if (res.writableFinished || this.#clientGone || this.#brokenOff || this.#handedOver) return;
      this.#clientGone = true;
      const upstreamResponse = this.#upstreamResponse;
      if (!upstreamResponse) {
        this.upstreamReq.destroy();
        this.#releaseLane(false);
        const sentAll = req.complete;
        // A connection Node closed over this request's malformed body is reported as such (400) by the request side. A
        // parse error after a complete request belongs to a later pipelined one: this one's client left.
        setImmediate(() => {
          if (!sentAll && parseErrorOf(req.socket)) return;
          this.flow.clientLeft(sentAll ? 'before the response arrived' : 'before sending the whole request body');
        });
      } else if (!upstreamResponse.complete) {
        upstreamResponse.destroy();
      }
    });
  }

  /** The origin's side: its final response, or the ways it fails to give one. */
  #watchOrigin(): void {
    const upstreamReq = this.upstreamReq;
    // An origin that switches protocols unasked (101 without an Upgrade request) cannot be forwarded.
    upstreamReq.once('upgrade', (_res, upgraded: Duplex) => {
      upgraded.destroy();
      upstreamReq.destroy(Object.assign(new Error('unsolicited 101 Switching Protocols'), { code: 'UNSOLICITED_UPGRADE' }));
    });
    // Node ends some exchanges with only a 'close' (e.g. an unsolicited 101 it will not hand over): no response and no
    // error must still get an answer.
    upstreamReq.once('close', () => process.nextTick(() => this.#closedWithoutAnswer()));
    upstreamReq.once('error', (error: NodeJS.ErrnoException) => this.#upstreamError(error));
    upstreamReq.once('response', (upstreamRes: http.IncomingMessage) => this.#onResponse(upstreamRes));
  }

  /** Node closed the request with neither a response nor an error: the browser still gets an answer. */
  #closedWithoutAnswer(): void {
    if (this.#upstreamResponse || this.#upstreamFailed || this.#clientGone) return;
    this.#upstreamFailed = true;
    if (this.#retryOnFresh(null)) return;
    this.#releaseLane(false);
    this.#sendErrorPage({ code: 'NO_RESPONSE' });
  }

  /** The request to the origin failed: before the response's head an error page answers, after it the answer is cut. */
  #upstreamError(error: NodeJS.ErrnoException): void {
    const res = this.res;
    this.#upstreamFailed = true;
    if (this.#retryOnFresh(error)) return;
    this.#releaseLane(false);
    // A parse error after a complete response (extra bytes after the body) changes nothing for this exchange.
    const upstreamResponse = this.#upstreamResponse;
    if (this.#clientGone || upstreamResponse?.complete) return;
    if (res.headersSent) {
      this.#brokenOff = true;
      this.#resetReported = true;
      res.destroy();
      this.flow.proxyError('upstream-reset', `The origin ${this.target.host} broke off the response: ${error.message}`);
      return;
    }
    this.#answeredWithError = true;
    // Body bytes Node had already parsed may still come as 'data': they must not reach the error page's response.
    if (upstreamResponse) {
      upstreamResponse.unpipe(res);
      upstreamResponse.destroy();
    }
    this.#sendErrorPage(error, 'exchange');
  }

  /** mitmlab's error page for `failure`, recorded with this attempt's timings. */
  #sendErrorPage(failure: unknown, phase?: 'connect' | 'exchange'): void {
    const target = this.target;
    this.flow.sendErrorPage(this.res, failureAnswer(target.host, target.port, failure, phase), timings(this.flow, this.#opened, this.#sentAt, this.#responseAt));
  }

  /** The origin's final response: relayed when Node can send its head to this client, else answered with a 502. */
  #onResponse(upstreamRes: http.IncomingMessage): void {
    this.#upstreamResponse = upstreamRes;
    this.#responseAt = performance.now();
    // How long the origin keeps the connection idle from now, for the pool to hand it on only within that time.
    const socket = this.socket;
    if (socket) upstreamRes.once('end', () => this.ctx.originPool.responseEnded(socket, rawHeader(upstreamRes.rawHeaders, 'keep-alive')));
    const status = upstreamRes.statusCode ?? 502;
    // The response's framing is Node's to choose for this client (chunked only for HTTP/1.1 clients, RFC 9112 §6.1),
    // so Transfer-Encoding is not copied (unless it has other codings, relayTransferCodings); status, reason and
    // fields are checked now, as Node throws on values it cannot send.
    const reason = sendableReason(upstreamRes.statusMessage);
    const head = forwardableHeaders(upstreamRes.rawHeaders);
    const codings = transferCodings(rawHeaderList(upstreamRes.rawHeaders, 'transfer-encoding'));
    const otherCodings = codings.filter((coding) => coding !== 'chunked');
    const unsendable = unsendableHead(status, head) ?? relayTransferCodings(this.req, status, head, codings, otherCodings);
    if (unsendable) {
      this.#upstreamFailed = true;
      upstreamRes.destroy();
      this.#releaseLane(false);
      this.#sendErrorPage(unsendable);
      return;
    }
    this.#relayResponse(upstreamRes, status, reason, head, otherCodings);
  }

  /** Streams the response to the browser, capturing its body; it is recorded once the origin's side closes. */
  #relayResponse(upstreamRes: http.IncomingMessage, status: number, reason: string, head: string[], otherCodings: string[]): void {
    const res = this.res;
    const capture = new BodyCapture(this.ctx.config.bodyCap);
    // The head goes out with the first body bytes, or one turn of the event loop after it arrived when the body is
    // slower (server-sent events, long polls): one write in the common case, and a body whose framing breaks before
    // any of it came still gets mitmlab's 502 instead of a 200 cut short.
    let headSent = false;
    const sendHead = (): void => {
      if (headSent || res.destroyed || this.#answeredWithError || res.headersSent) return;
      headSent = true;
      try {
        // Node appends a Date where the origin sent none, as RFC 9110 §6.6.1 requires of a recipient with a clock
        // that forwards the response; the record keeps the origin's head as it came.
        res.writeHead(status, reason, head);
      } catch (error) {
        // Checked before (unsendableHead); should Node still refuse it, the exchange ends here, the process goes on.
        this.#brokenOff = true;
        res.destroy();
        this.flow.proxyError('upstream-reset', `mitmlab could not relay the response of ${this.target.host}: ${(error as Error).message}`);
      }
    };
    setImmediate(() => {
      if (headSent || this.#upstreamFailed || this.#clientGone || res.destroyed) return;
      sendHead();
      res.flushHeaders();
    });
    upstreamRes.on('data', (chunk: Buffer) => {
      sendHead();
      capture.push(chunk);
    });
    // Before pipe()'s own 'end' listener, which ends `res`: the head, then the origin's trailer fields (RFC 9110 §6.5;
    // Node sends them only in a chunked response, which an HTTP/1.0 client never gets).
    upstreamRes.once('end', () => {
      sendHead();
      if (upstreamRes.rawTrailers.length > 0 && !res.destroyed && !this.#answeredWithError) addSendableTrailers(res, upstreamRes.rawTrailers);
    });
    upstreamRes.pipe(res);
    upstreamRes.once('error', () => {
      if (res.destroyed || this.#answeredWithError) return;
      this.#brokenOff = true;
      res.destroy();
    });
    upstreamRes.once('close', () => {
      if (this.#answeredWithError) return; // the browser got mitmlab's error page, recorded as this exchange's response
      const endAt = performance.now();
      if (!upstreamRes.complete) this.#responseCutOff();
      this.#recordResponse(upstreamRes, capture, status, otherCodings, endAt);
    });
  }

  /** The origin's response closed before its end: the browser left, or the origin broke off (said once). */
  #responseCutOff(): void {
    if (this.#clientGone) this.flow.clientLeft('before receiving the whole response');
    else if (!this.#resetReported) {
      this.#brokenOff = true;
      this.#resetReported = true;
      if (!this.res.destroyed) this.res.destroy();
      this.flow.proxyError('upstream-reset', `The response from ${this.target.host} was cut off.`);
    }
  }

  /** Emits http-response (after http-request) with the captured body, then the secrets found in the response. */
  #recordResponse(upstreamRes: http.IncomingMessage, capture: BodyCapture, status: number, otherCodings: string[], endAt: number): void {
    const ctx = this.ctx;
    const flow = this.flow;
    const resHeaders = recordedHeaders(upstreamRes.rawHeaders);
    const mime = mediaType(rawHeader(upstreamRes.rawHeaders, 'content-type'));
    const recorded = capture
      // The transfer codings were applied after the content codings, so the record undoes them first.
      .finish(
        ctx.blobs,
        [rawHeaderList(upstreamRes.rawHeaders, 'content-encoding'), ...otherCodings].filter(Boolean).join(', ') || undefined,
        mime,
        upstreamRes.complete,
        bodyPart(status, rawHeader(upstreamRes.rawHeaders, 'content-range')),
      )
      .catch(() => null)
      .then(async (body) => {
        await flow.requestEmitted();
        const t = timings(flow, this.#opened, this.#sentAt, this.#responseAt);
        t.receive = endAt - this.#responseAt;
        t.total = endAt - flow.t0;
        ctx.bus.emit({
          type: 'http-response',
          id: flow.id,
          conn: flow.site.conn,
          status,
          statusText: upstreamRes.statusMessage ?? '',
          httpVersion: upstreamRes.httpVersion,
          headers: resHeaders,
          body: body?.ref ?? null,
          timings: t,
          synthetic: false,
          ...(flow.interim.length > 0 ? { interim: flow.interim } : {}),
          ...(upstreamRes.rawTrailers.length > 0 ? { trailers: recordedHeaders(upstreamRes.rawTrailers) } : {}),
          at: Date.now(),
        });
        flow.emitSecrets(resHeaders, body, mime, 'response');
      });
    ctx.unfinished.add(recorded);
  }
}

const NO_CONTENT_FIELDS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding']);

/** Adds the trailer fields Node can send; one it would refuse (a bad name or value) is dropped, never thrown. */
function addSendableTrailers(message: http.OutgoingMessage, raw: string[]): void {
  const sendable = pairHeaders(raw).filter(([name, value]) => fieldProblem(name, value) === null);
  if (sendable.length > 0) message.addTrailers(sendable);
}

/** Why Node would refuse to write this field (its own name and value checks), or null. */
function fieldProblem(name: string, value: string): string | null {
  try {
    http.validateHeaderName(name);
    http.validateHeaderValue(name, value);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Interim responses recorded per exchange. */
const MAX_INTERIM = 16;

/**
 * Passes an interim (1xx) response on to the browser: a proxy must forward those it did not ask for, and never to an
 * HTTP/1.0 client, which has no 1xx (RFC 9110 §15.2). 100 goes through writeContinue ('continue'); 101 is an upgrade.
 */
function forwardInterim(req: http.IncomingMessage, res: http.ServerResponse, info: http.InformationEvent): void {
  if (info.statusCode === 100 || info.statusCode === 101) return;
  if (req.httpVersion !== '1.1' || res.headersSent || !res.socket || res.socket.destroyed) return;
  const lines = [`HTTP/1.1 ${info.statusCode} ${sendableReason(info.statusMessage)}`];
  // A 1xx has no content (RFC 9110 §8.6, §15.2): framing fields in one would put the client out of step.
  const fields = forwardableHeaders(info.rawHeaders, undefined, NO_CONTENT_FIELDS);
  for (let i = 0; i + 1 < fields.length; i += 2) lines.push(`${fields[i]}: ${fields[i + 1]}`);
  res.socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** Why Node would refuse to write this response head, or null (the checks of ServerResponse.writeHead). */
function unsendableHead(status: number, head: string[]): { code: string; message: string } | null {
  if (status < 100 || status > 999) return { code: 'HPE_INVALID_STATUS', message: `status code ${status}` };
  // Node hands over a 101 without Upgrade as a final response; a 1xx is never one (RFC 9110 §15.2).
  if (status === 101) return { code: 'UNSOLICITED_UPGRADE', message: 'status 101 without an upgrade' };
  if (status < 200) return { code: 'HPE_INVALID_STATUS', message: `status code ${status} as a final response` };
  for (let i = 0; i + 1 < head.length; i += 2) {
    const problem = fieldProblem(head[i]!, head[i + 1]!);
    if (problem) return { code: 'HPE_INVALID_HEADER_TOKEN', message: problem };
  }
  return null;
}
