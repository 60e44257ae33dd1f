// The request head mitmlab sends to the origin, and the node:http request that carries it over an intercepted
// connection's lane or through the plain http:// pool. upstream-attempt.ts sends it and relays the answer.

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { forwardableHeaders, hostField, withHost } from './headers.js';
import type { PoolRequestOptions } from './upstream-agents.js';
import type { Flow } from './exchange-flow.js';
import type { ExchangeTarget } from './http-exchange.js';

/**
 * The largest response head relayed (bytes). Node's client default (16 KiB) is below what sites send (large CSP or
 * Set-Cookie fields) and browsers accept: Chromium's HTTP/1.1 parser allows 256 KiB (net/http/http_stream_parser.h,
 * kMaxHeaderBufSize).
 */
const RESPONSE_HEAD_LIMIT = 256 * 1024;

// Transfer-Encoding is hop-by-hop, but keeping it lets Node re-frame the body the same way on the next hop.
// Expect goes on to the origin, which answers it (proxy.ts, checkContinue).
const KEEP_TRANSFER_ENCODING: ReadonlySet<string> = new Set(['transfer-encoding']);
// A chunked request keeps its Trailer field too, which announces the trailer fields relayed after its body (RFC 9110
// §6.6.2: not hop-by-hop; headers.ts drops it only where Node would not send the message chunked).
const KEEP_CHUNKED_FRAMING: ReadonlySet<string> = new Set(['transfer-encoding', 'trailer']);
// The methods node:http sends without body framing when none is given; it sends any other method chunked (its
// ClientRequest's useChunkedEncodingByDefault).
const NODE_SENDS_UNFRAMED: ReadonlySet<string> = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
const NOT_FORWARDED: ReadonlySet<string> = new Set();
const HTTP10_NOT_FORWARDED: ReadonlySet<string> = new Set(['expect']);

/** RFC 9110 §9.2.2. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * True when the request may be sent once more on a new connection if the one it went on closes before any answer: an
 * idempotent method (RFC 9110 §9.2.2) and no body, since a streamed body is gone once sent. RFC 9112 §9.3.1 forbids a
 * proxy to retry any other request.
 */
export function resendable(req: http.IncomingMessage): boolean {
  return IDEMPOTENT_METHODS.has(req.method ?? '') && !hasBody(req);
}

export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The request head sent to the origin: the client's fields as forwarded, with the Host the target calls for. */
export function upstreamHeaders(req: http.IncomingMessage, target: ExchangeTarget): string[] {
  // An HTTP/1.0 client's Expect is ignored (RFC 9110 §10.1.1: it has no 1xx to wait for), so it does not go on either.
  const dropped = req.httpVersion === '1.1' ? NOT_FORWARDED : HTTP10_NOT_FORWARDED;
  const keep = req.headers['transfer-encoding'] !== undefined ? KEEP_CHUNKED_FRAMING : KEEP_TRANSFER_ENCODING;
  const headers = withHost(forwardableHeaders(req.rawHeaders, keep, dropped), hostHeader(target), target.replaceHost === true);
  // A request without a body (RFC 9112 §6.3: neither Content-Length nor Transfer-Encoding) that Node would send
  // chunked (a POST, PUT, PATCH…) says Content-Length: 0 instead, the same empty body without a framing it never had.
  if (!hasBody(req) && req.headers['content-length'] === undefined && !NODE_SENDS_UNFRAMED.has(req.method ?? '')) headers.push('Content-Length', '0');
  return headers;
}

/** The request to the origin, over the lane's socket or the pool's agent. Throws when Node refuses to write its head. */
export function openUpstreamRequest(flow: Flow, req: http.IncomingMessage, target: ExchangeTarget, headers: string[], socket: Duplex | null): http.ClientRequest {
  const common = { host: target.host, port: target.port, method: req.method, path: target.path, setHost: false, maxHeaderSize: RESPONSE_HEAD_LIMIT };
  const upstreamReq = socket
    ? // Without an agent Node defaults to Connection: close; saying keep-alive makes it hand the socket back
      // ('free') after the response, for the lane to reuse (RFC 9112 §9.3).
      http.request({ ...common, headers: [...headers, 'Connection', 'keep-alive'], createConnection: () => socket })
    : http.request(poolRequest({ ...common, headers, agent: (target.route as { agent: http.Agent }).agent }, flow.site.client.address));
  // Every field of the origin's head, as for the browser's (proxy.ts): RESPONSE_HEAD_LIMIT bounds it.
  upstreamReq.maxHeadersCount = 0;
  if (socket) {
    // With array headers Node stores the head in the constructor and then, having no agent, marks the request
    // "Connection: close"; the head already says keep-alive, so say it to Node too (undocumented field, stable since
    // Node 0.x; test/integration/proxy-https.test.ts checks one upstream connection serves several requests).
    (upstreamReq as http.ClientRequest & { shouldKeepAlive: boolean }).shouldKeepAlive = true;
  }
  return upstreamReq;
}

/** Request options for the plain http:// pool, which also needs the client's address (see PlainAgent.getName). */
function poolRequest(options: http.RequestOptions, from: string): http.RequestOptions {
  const withClient: http.RequestOptions & PoolRequestOptions = { ...options, mitmlabFrom: from };
  return withClient;
}

function hostHeader(target: ExchangeTarget): string {
  // The URL (absolute, built by mitmlab) says which scheme the origin speaks.
  return hostField(target.host, target.port, target.url.startsWith('https:') ? 'https' : 'http');
}
