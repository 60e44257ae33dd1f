// One HTTP exchange through mitmlab: the request streams to the origin and the response streams back, while bounded
// copies of both bodies are captured and the exchange becomes http-request / http-response events.
// Used for plain http:// requests and for requests decrypted from an intercepted TLS connection.
//
// This is the hot path (every request crosses it): plain .pipe() with explicit handlers rather than
// stream.pipeline (which builds an AbortController per call), and an UpstreamLane rather than an http.Agent for
// intercepted connections (one socket, no pool bookkeeping).
//
// The exchange's record is a Flow (exchange-flow.ts); the origin's side is an UpstreamAttempt (upstream-attempt.ts),
// which sends the head upstream-request.ts builds.

import type http from 'node:http';
import type { Endpoint } from '../protocol/events.js';
import type { ProxyContext } from './context.js';
import { answerAfterBody, Flow } from './exchange-flow.js';
import { failureAnswer, type FailureAnswer } from './upstream-answer.js';
import type { UpstreamLane } from './upstream-lane.js';
import { send } from './upstream-attempt.js';
import { resendable } from './upstream-request.js';

export { flowIdOf } from './exchange-flow.js';

/** The connection an exchange belongs to. */
export interface ExchangeSite {
  conn: string;
  client: Endpoint;
  /** Counts flows in this connection: ids are `conn.n`. */
  flowCount: number;
}

/** How a request reaches the origin: a pooled agent (plain http://) or the intercepted connection's lane. */
export type UpstreamRoute = { kind: 'agent'; agent: http.Agent } | { kind: 'lane'; lane: UpstreamLane };

/** Where one request goes. */
export interface ExchangeTarget {
  host: string;
  port: number;
  /** Origin-form path sent upstream. */
  path: string;
  /** Absolute URL, for events. */
  url: string;
  route: UpstreamRoute;
  /** Send Host from the target instead of the client's (absolute-form requests, RFC 9112 §3.2.2). */
  replaceHost?: boolean;
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
  answerAfterBody(new Flow(ctx, site, req, url), req, res, answer);
}

/** Forwards one request to the origin and streams the response back. */
export function forwardExchange(
  ctx: ProxyContext,
  site: ExchangeSite,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: ExchangeTarget,
): void {
  const flow = new Flow(ctx, site, req, target.url);
  const route = target.route;
  if (route.kind === 'agent') return send(ctx, flow, req, res, target, null);
  const mayResend = resendable(req);
  const idle = route.lane.tryAcquire(mayResend);
  if (idle) return send(ctx, flow, req, res, target, idle);
  route.lane.acquire(mayResend).then(
    (socket) => send(ctx, flow, req, res, target, socket),
    (error: unknown) => answerAfterBody(flow, req, res, failureAnswer(target.host, target.port, error), route.lane.lastConnect),
  );
}
