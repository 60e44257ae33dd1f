// HAR 1.2 entries built from the events of one flow plus its connection's TLS events. Pure: the exporter reads the
// blobs and hands them in, so this is testable without a socket or a disk.
//
// Spec: HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/). Custom fields start with an underscore, as the
// spec requires. `_webSocketMessages` follows Chrome DevTools' export ({type, time in seconds, opcode, data}).

import type { BodyRef, ConnId, EventOf, HeaderList } from '../protocol/events.js';
import type { CertificateSummary } from '../protocol/tls.js';
import { boundaryOf, multipartFields } from '../protocol/multipart.js';
import { strictUtf8 } from '../protocol/utf8.js';

export interface HarNameValue {
  name: string;
  value: string;
}

export interface HarCookie extends HarNameValue {
  path?: string;
  domain?: string;
  expires?: string;
  httpOnly?: boolean;
  secure?: boolean;
}

export interface HarContent {
  size: number;
  compression?: number;
  mimeType: string;
  text?: string;
  encoding?: 'base64';
  comment?: string;
}

export interface HarPostData {
  mimeType: string;
  /** The fields of a whole URL-encoded form, as Chrome's HAR lists them next to `text`. */
  /** Form fields: name and value, and for a multipart file its fileName and contentType. */
  params?: Array<HarNameValue & { fileName?: string; contentType?: string }>;
  text: string;
  /** Not in HAR 1.2 (postData has no encoding): set to base64 when `text` holds a binary body. */
  _encoding?: 'base64';
  comment?: string;
}

export interface HarRequest {
  method: string;
  url: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  queryString: HarNameValue[];
  postData?: HarPostData;
  headersSize: number;
  bodySize: number;
}

export interface HarResponse {
  status: number;
  statusText: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  content: HarContent;
  redirectURL: string;
  headersSize: number;
  bodySize: number;
  /** Chrome's field for a request that got no response. */
  _error?: string;
}

export interface HarTimings {
  blocked: number;
  dns: number;
  connect: number;
  ssl: number;
  send: number;
  wait: number;
  receive: number;
}

/** One certificate as DESIGN.md §4 lists it. */
export interface HarCertificate {
  subject: string;
  issuer: string;
  sha256: string;
  notBefore: string;
  notAfter: string;
  san: string[];
}

/** One TLS leg of an entry (DESIGN.md §4). */
export interface HarTlsLeg {
  version: string | null;
  cipher: string | null;
  sni: string | null;
  alpn: string | null;
  /** MD5 of the JA3 string. */
  ja3: string | null;
  ja4: string | null;
  clientHello: {
    cipherSuites: number[];
    extensions: number[];
    supportedGroups: number[];
    signatureAlgorithms: number[];
    supportedVersions: number[];
    alpn: string[];
  } | null;
  certificates: HarCertificate[];
  /** Upstream leg only: how the origin's certificate fared. */
  verification?: EventOf<'tls-certificates'>['verification'] & { insecureAllowed: boolean };
}

export interface HarWebSocketMessage {
  type: 'send' | 'receive';
  /** Seconds since epoch, fractional (Chrome). */
  time: number;
  opcode: number;
  data: string;
  /** Not in Chrome's shape: the message's full size, when `data` holds only its first --ws-cap bytes. */
  _size?: number;
  _truncated?: true;
  /** Not in Chrome's shape: it arrived after the other side had closed, and was not passed on. */
  _undelivered?: true;
}

export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: HarRequest;
  response: HarResponse;
  cache: Record<string, never>;
  timings: HarTimings;
  connection: string;
  comment?: string;
  _flowId: string;
  _resourceType?: 'websocket';
  _tls: { client: HarTlsLeg | null; upstream: HarTlsLeg | null };
  _webSocketMessages?: HarWebSocketMessage[];
}

/** `log._tlsErrors` item: a handshake that failed. */
export interface HarTlsError {
  time: string;
  leg: 'client' | 'upstream';
  host: string;
  cause: string;
  message: string;
  alert: string | null;
  connection: ConnId;
}

/** Everything recorded about one flow. */
export interface FlowEvents {
  id: string;
  conn: ConnId;
  request: EventOf<'http-request'> | null;
  response: EventOf<'http-response'> | null;
  wsOpen: EventOf<'ws-open'> | null;
  wsMessages: EventOf<'ws-message'>[];
  /** WebSocket messages left out to bound memory. */
  wsOmitted: number;
  wsClose: EventOf<'ws-close'> | null;
  errors: EventOf<'proxy-error'>[];
}

/** The TLS events of a connection, per leg. */
export interface ConnTlsEvents {
  client: { hello: EventOf<'tls-client-hello'> | null; established: EventOf<'tls-established'> | null };
  upstream: { hello: EventOf<'tls-client-hello'> | null; established: EventOf<'tls-established'> | null };
  certificates: EventOf<'tls-certificates'> | null;
}

/** An empty record for a flow. */
export function emptyFlowEvents(id: string, conn: ConnId): FlowEvents {
  return { id, conn, request: null, response: null, wsOpen: null, wsMessages: [], wsOmitted: 0, wsClose: null, errors: [] };
}

/** An empty TLS record for a connection. */
export function emptyConnTls(): ConnTlsEvents {
  return { client: { hello: null, established: null }, upstream: { hello: null, established: null }, certificates: null };
}

/** Stored bytes by SHA-256; undefined or null when the blob is not available. */
export type BodyLookup = (sha256: string) => Buffer | null | undefined;

/** Builds the HAR entry of a flow, or null when it has neither a request nor a WebSocket open (nothing to show). */
export function buildHarEntry(flow: FlowEvents, tls: ConnTlsEvents, bodies: BodyLookup): HarEntry | null {
  const request = flow.request;
  const url = flow.wsOpen?.url ?? request?.url;
  if (url === undefined) return null;
  const response = flow.response;
  const startedAt = response?.timings.startedAt ?? request?.at ?? flow.wsOpen!.at;
  const timings = harTimings(flow, startedAt);
  const comments: string[] = [];
  if (flow.wsOmitted > 0) comments.push(`${flow.wsOmitted} WebSocket messages were left out of this export to bound its size.`);

  const entry: HarEntry = {
    startedDateTime: new Date(startedAt).toISOString(),
    time: sumTimings(timings),
    request: harRequest(flow, url, bodies),
    response: response ? withError(harResponse(response, bodies), flow) : noResponse(flow),
    cache: {},
    timings,
    connection: flow.conn,
    _flowId: flow.id,
    _tls: { client: tlsLeg(tls, 'client'), upstream: tlsLeg(tls, 'upstream') },
  };
  if (flow.wsOpen) {
    entry._resourceType = 'websocket';
    entry._webSocketMessages = flow.wsMessages.map((message) => ({
      type: message.direction,
      time: message.at / 1000,
      opcode: message.opcode,
      data: message.data,
      ...(message.truncated ? { _size: message.size, _truncated: true as const } : {}),
      ...(message.undelivered ? { _undelivered: true as const } : {}),
    }));
    if (flow.wsMessages.some((message) => message.truncated)) comments.push('Some WebSocket messages were captured only up to --ws-cap (_truncated, with their _size).');
    if (flow.wsMessages.some((message) => message.undelivered)) comments.push('Some WebSocket messages arrived after the other side had closed and were not passed on (_undelivered).');
    if (flow.wsClose) comments.push(`WebSocket closed by ${flow.wsClose.by === 'mitmlab' ? 'mitmlab' : `the ${flow.wsClose.by}`} with code ${flow.wsClose.code}${flow.wsClose.reason ? ` (${flow.wsClose.reason})` : ''}.`);
  }
  if (response?.synthetic) comments.push('This response was made by mitmlab (an error page), not by the origin.');
  for (const error of flow.errors) comments.push(error.message);
  if (comments.length > 0) entry.comment = comments.join(' ');
  return entry;
}

/** The `log._tlsErrors` item for a failed handshake. */
export function harTlsError(event: EventOf<'tls-failed'>): HarTlsError {
  return {
    time: new Date(event.at).toISOString(),
    leg: event.leg,
    host: event.host,
    cause: event.cause,
    message: event.message,
    alert: event.alert,
    connection: event.conn,
  };
}

function harRequest(flow: FlowEvents, url: string, bodies: BodyLookup): HarRequest {
  const request = flow.request;
  const headers = request?.headers ?? [];
  const method = request?.method ?? 'GET';
  const httpVersion = harVersion(request?.httpVersion ?? '1.1');
  const har: HarRequest = {
    method,
    url,
    httpVersion,
    cookies: requestCookies(headers),
    headers: nameValues(headers),
    queryString: queryString(url),
    headersSize: request ? headBytes(`${method} ${sentTarget(url)} ${httpVersion}`, headers, request.httpVersion) : -1,
    bodySize: request?.body?.wireSize ?? (request ? 0 : -1),
  };
  if (request?.body) {
    const mimeType = headerValue(headers, 'content-type') ?? request.body.mimeType ?? 'application/octet-stream';
    const body = renderBody(request.body, bodies, mimeType);
    har.postData = { mimeType, text: body.text ?? '' };
    // HAR 1.2 §postData: params "in case of URL encoded parameters". Only for a body captured whole: half a form
    // would list a cut value as if it were the one sent.
    const whole = body.text !== undefined && !body.encoding && !request.body.truncated;
    if (whole && /^application\/x-www-form-urlencoded\b/i.test(mimeType)) har.postData.params = formPairs(body.text!);
    // A multipart form's fields and files, with their file names and types (HAR 1.2 params).
    const boundary = /^multipart\/form-data\b/i.test(mimeType) ? boundaryOf(mimeType) : null;
    const fields = whole && boundary ? multipartFields(body.text!, boundary) : null;
    if (fields) har.postData.params = fields;
    if (body.encoding) har.postData._encoding = body.encoding;
    if (body.comment) har.postData.comment = body.comment;
  }
  return har;
}

/** A response cut short (the client left, the origin broke off, mitmlab stopped) carries why, as Chrome's `_error`. */
function withError(response: HarResponse, flow: FlowEvents): HarResponse {
  const error = flow.errors.at(-1);
  if (error && error.status === null) response._error = error.message;
  return response;
}

function harResponse(response: EventOf<'http-response'>, bodies: BodyLookup): HarResponse {
  const headers = response.headers;
  const httpVersion = harVersion(response.httpVersion);
  const mimeType = headerValue(headers, 'content-type') ?? response.body?.mimeType ?? '';
  const content: HarContent = { size: 0, mimeType };
  if (response.body) {
    const ref = response.body;
    // content.size is the decoded length; compression is what the content coding saved (HAR 1.2 §content).
    content.size = ref.decoded ? ref.size : ref.wireSize;
    if (ref.decoded && !ref.truncated && ref.wireSize <= ref.size) content.compression = ref.size - ref.wireSize;
    const body = renderBody(ref, bodies, mimeType);
    if (body.text !== undefined) content.text = body.text;
    if (body.encoding) content.encoding = body.encoding;
    if (body.comment) content.comment = body.comment;
  }
  return {
    status: response.status,
    statusText: response.statusText,
    httpVersion,
    cookies: responseCookies(headers),
    headers: nameValues(headers),
    content,
    redirectURL: headerValue(headers, 'location') ?? '',
    headersSize: headBytes(`${httpVersion} ${response.status} ${response.statusText}`, headers, response.httpVersion),
    // Bytes received (HAR 1.2 §response): no body reference means none came, whatever Content-Length announced (a
    // HEAD or 304 response carries the length of a body it does not send, RFC 9110 §8.6).
    bodySize: response.body?.wireSize ?? 0,
  };
}

/** HAR's placeholder response for a request that got none (status 0, as browsers export aborted requests). */
function noResponse(flow: FlowEvents): HarResponse {
  const error = flow.errors.at(-1)?.message ?? (flow.wsOpen ? null : 'No response was recorded for this request.');
  const response: HarResponse = {
    status: 0,
    statusText: '',
    httpVersion: '',
    cookies: [],
    headers: [],
    content: { size: 0, mimeType: 'x-unknown' },
    redirectURL: '',
    headersSize: -1,
    bodySize: -1,
  };
  if (error) response._error = error;
  return response;
}

function harTimings(flow: FlowEvents, startedAt: number): HarTimings {
  const response = flow.response;
  if (response) {
    const t = response.timings;
    const ssl = t.ssl ?? -1;
    return {
      blocked: -1,
      dns: -1,
      connect: t.connect >= 0 ? t.connect : -1,
      // HAR 1.2: `ssl` is the TLS handshake and is also counted in `connect`.
      ssl: t.connect >= 0 && ssl >= 0 ? ssl : -1,
      send: Math.max(0, t.send),
      wait: Math.max(0, t.wait),
      receive: Math.max(0, t.receive),
    };
  }
  const end = flow.wsClose?.at ?? flow.errors.at(-1)?.at ?? startedAt;
  return { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0, wait: Math.max(0, end - startedAt), receive: 0 };
}

/** entry.time: the sum of the applicable timings, ssl excluded as it is inside connect (HAR 1.2 §timings). */
function sumTimings(t: HarTimings): number {
  return [t.blocked, t.dns, t.connect, t.send, t.wait, t.receive].filter((v) => v >= 0).reduce((a, b) => a + b, 0);
}

function tlsLeg(tls: ConnTlsEvents, leg: 'client' | 'upstream'): HarTlsLeg | null {
  const { hello, established } = tls[leg];
  const chain = tls.certificates ? (leg === 'client' ? tls.certificates.forged : tls.certificates.upstream) : [];
  if (!hello && !established && chain.length === 0) return null;
  const h = hello?.hello ?? null;
  const result: HarTlsLeg = {
    version: established?.version ?? null,
    cipher: established?.cipher ?? null,
    sni: established?.sni ?? h?.serverName ?? null,
    alpn: established?.alpn ?? null,
    ja3: hello?.fingerprints.ja3Hash ?? null,
    ja4: hello?.fingerprints.ja4 ?? null,
    clientHello: h
      ? {
          cipherSuites: h.cipherSuites,
          extensions: h.extensions.map((extension) => extension.type),
          supportedGroups: h.supportedGroups,
          signatureAlgorithms: h.signatureAlgorithms,
          supportedVersions: h.supportedVersions,
          alpn: h.alpn,
        }
      : null,
    certificates: chain.map(harCertificate),
  };
  if (leg === 'upstream' && tls.certificates) {
    result.verification = { ...tls.certificates.verification, insecureAllowed: tls.certificates.insecureAllowed };
  }
  return result;
}

function harCertificate(cert: CertificateSummary): HarCertificate {
  return { subject: cert.subject, issuer: cert.issuer, sha256: cert.sha256, notBefore: cert.notBefore, notAfter: cert.notAfter, san: cert.san };
}

interface RenderedBody {
  text?: string;
  encoding?: 'base64';
  comment?: string;
}

/** Body text for HAR: UTF-8 text when it is text, else base64 (with `encoding`); comments explain gaps. */
function renderBody(ref: BodyRef, bodies: BodyLookup, mimeType: string): RenderedBody {
  const bytes = bodies(ref.sha256);
  const notes: string[] = [];
  if (ref.truncated) notes.push(`Body captured only up to --body-cap: the first ${ref.size} bytes (${ref.wireSize} bytes crossed the proxy).`);
  if (ref.encoding && !ref.decoded) notes.push(`Stored as received, still encoded with Content-Encoding: ${ref.encoding}.`);
  if (ref.decodeError) notes.push(`It could not be decoded: ${ref.decodeError}.`);
  if (!bytes) {
    notes.push('The body was not stored (the session was written while the disk refused writes, or it was deleted).');
    return { comment: notes.join(' ') };
  }
  const text = looksTextual(mimeType, ref) ? utf8(bytes, ref.truncated) : null;
  const result: RenderedBody = text !== null ? { text } : { text: bytes.toString('base64'), encoding: 'base64' };
  if (notes.length > 0) result.comment = notes.join(' ');
  return result;
}

// A multipart form is text when all its parts are (a binary file makes it base64, as utf8() finds).
const TEXT_MIME = /^(text\/|application\/(json|xml|javascript|ecmascript|x-javascript|x-www-form-urlencoded|graphql)\b|multipart\/form-data\b|image\/svg\+xml|[a-z]+\/[^;]*\+(json|xml)\b)/i;

function looksTextual(mimeType: string, ref: BodyRef): boolean {
  if (ref.encoding && !ref.decoded) return false;
  if (mimeType) return TEXT_MIME.test(mimeType.trim());
  return ref.mimeType ? TEXT_MIME.test(ref.mimeType) : true;
}

/** Strict UTF-8 decode; a capped body may end inside a character, so up to 3 trailing bytes may be dropped. */
function utf8(bytes: Buffer, truncated: boolean): string | null {
  for (let cut = 0; cut <= (truncated ? 3 : 0) && cut < bytes.length + 1; cut++) {
    try {
      const text = strictUtf8.decode(bytes.subarray(0, bytes.length - cut));
      // NUL bytes mean binary even when they are valid UTF-8.
      return text.includes('\u0000') ? null : text;
    } catch {
      // try one byte shorter
    }
  }
  return null;
}

function harVersion(version: string): string {
  return version.startsWith('HTTP/') ? version : `HTTP/${version}`;
}

function nameValues(headers: HeaderList): HarNameValue[] {
  return headers.map(([name, value]) => ({ name, value }));
}

function headerValue(headers: HeaderList, name: string): string | null {
  for (const [key, value] of headers) if (key.toLowerCase() === name) return value;
  return null;
}

/** Bytes of an HTTP/1.x head (start line, fields, blank line); -1 for other versions, as HAR 1.2 allows. */
function headBytes(startLine: string, headers: HeaderList, version: string): number {
  if (!/^(HTTP\/)?1\.[01]$/.test(version)) return -1;
  let size = Buffer.byteLength(startLine) + 2;
  for (const [name, value] of headers) size += Buffer.byteLength(name) + 2 + Buffer.byteLength(value) + 2;
  return size + 2;
}

/**
 * The request-target as the browser sent it: a plain-http request goes to the proxy itself, in the absolute-form; one
 * inside a CONNECT tunnel goes to the origin, in the origin-form (RFC 9112 §3.2.1, §3.2.2).
 */
function sentTarget(url: string): string {
  return url.startsWith('http:') ? url : requestTarget(url);
}

function requestTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return url;
  }
}

function queryString(url: string): HarNameValue[] {
  const start = url.indexOf('?');
  if (start < 0) return [];
  const end = url.indexOf('#', start);
  return formPairs(url.slice(start + 1, end < 0 ? undefined : end));
}

/**
 * application/x-www-form-urlencoded pairs (WHATWG URL §5.1), except that percent-escapes that are not UTF-8 (`%E9`,
 * Latin-1 forms) are kept as written: URLSearchParams would turn each such byte into U+FFFD, and the HAR would show
 * a value that was never sent. The escapes around them are decoded as usual.
 */
function formPairs(text: string): HarNameValue[] {
  const pairs: HarNameValue[] = [];
  for (const part of text.split('&')) {
    if (part === '') continue;
    const at = part.indexOf('=');
    pairs.push({ name: formDecode(at < 0 ? part : part.slice(0, at)), value: at < 0 ? '' : formDecode(part.slice(at + 1)) });
  }
  return pairs;
}

function formDecode(text: string): string {
  return text.replace(/\+/g, ' ').replace(/(?:%[0-9A-Fa-f]{2})+/g, decodeEscapes);
}

/** A run of %XX escapes: each UTF-8 sequence in it decoded, each byte that starts none kept as its escape. */
function decodeEscapes(run: string): string {
  const bytes = Buffer.from(run.replace(/%/g, ''), 'hex');
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    // RFC 3629 §4: the lead byte gives the sequence's length.
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    let decoded: string | null = null;
    if (length > 0 && i + length <= bytes.length) {
      try {
        decoded = strictUtf8.decode(bytes.subarray(i, i + length));
      } catch {
        decoded = null;
      }
    }
    if (decoded === null) {
      out += run.slice(i * 3, i * 3 + 3);
      i++;
    } else {
      out += decoded;
      i += length;
    }
  }
  return out;
}

/** Cookie request header → pairs (RFC 6265 §5.4). */
function requestCookies(headers: HeaderList): HarCookie[] {
  const cookies: HarCookie[] = [];
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'cookie') continue;
    for (const pair of value.split(';')) {
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      cookies.push({ name: pair.slice(0, at).trim(), value: pair.slice(at + 1).trim() });
    }
  }
  return cookies;
}

/** Set-Cookie response headers → cookies with their attributes (RFC 6265 §5.2). */
function responseCookies(headers: HeaderList): HarCookie[] {
  const cookies: HarCookie[] = [];
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'set-cookie') continue;
    const [first, ...attributes] = value.split(';');
    const at = first!.indexOf('=');
    if (at <= 0) continue;
    const cookie: HarCookie = { name: first!.slice(0, at).trim(), value: first!.slice(at + 1).trim() };
    for (const attribute of attributes) {
      const eq = attribute.indexOf('=');
      const key = (eq >= 0 ? attribute.slice(0, eq) : attribute).trim().toLowerCase();
      const val = eq >= 0 ? attribute.slice(eq + 1).trim() : '';
      if (key === 'path') cookie.path = val;
      else if (key === 'domain') cookie.domain = val;
      else if (key === 'httponly') cookie.httpOnly = true;
      else if (key === 'secure') cookie.secure = true;
      else if (key === 'expires') {
        const time = Date.parse(val);
        if (!Number.isNaN(time)) cookie.expires = new Date(time).toISOString();
      }
    }
    cookies.push(cookie);
  }
  return cookies;
}
