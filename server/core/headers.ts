// Header handling shared by every HTTP hop: raw header lists in, filtered lists out.

import type { HeaderList } from '../protocol/events.js';

// Hop-by-hop fields are meaningful only for a single connection and must not be forwarded (RFC 9110 §7.6.1).
// Proxy-Connection is a non-standard field that old clients still send to proxies.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  // Not hop-by-hop in RFC 9110 (§6.6.2), but Node throws on a message that carries it and is not sent chunked (a
  // HEAD answer, a 204, a body with Content-Length, an HTTP/1.0 client). The trailer fields themselves are relayed
  // (upstream-attempt.ts) whenever the message is chunked.
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Turns Node's flat `rawHeaders` array into [name, value] pairs, keeping case and order. */
export function pairHeaders(raw: string[]): HeaderList {
  const list: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) list.push([raw[i]!, raw[i + 1]!]);
  return list;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A field value as Node read it (one character per byte: RFC 9110 §5.5 leaves non-ASCII octets opaque), as text to
 * record: UTF-8 when its bytes are valid UTF-8, which is what servers sending non-ASCII almost always mean (a
 * Content-Disposition file name, a custom header), else as it came. Only the record changes; the bytes forwarded
 * are the ones received.
 */
export function readableFieldValue(value: string): string {
  if (!/[\x80-\xff]/.test(value)) return value;
  try {
    return UTF8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** Raw name/value pairs as recorded in events: values made readable (readableFieldValue). */
export function recordedHeaders(raw: string[]): HeaderList {
  const list: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) list.push([raw[i]!, readableFieldValue(raw[i + 1]!)]);
  return list;
}

/**
 * The transfer codings of a Transfer-Encoding value, lowercased, in the order they were applied (RFC 9112 §6.1), e.g.
 * `gzip, chunked` → ['gzip', 'chunked']. Parameters are dropped.
 */
export function transferCodings(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((coding) => coding.split(';')[0]!.trim().toLowerCase())
    .filter((coding) => coding.length > 0);
}

/** Names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens(raw: string[]): Set<string> {
  const tokens = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) tokens.add(token.trim().toLowerCase());
  }
  return tokens;
}

/**
 * The flat raw header array to forward: hop-by-hop fields removed, everything else in order with its case.
 * `keep` names hop-by-hop fields to preserve (e.g. transfer-encoding, so Node frames the body the same way);
 * `drop` names further fields to remove.
 */
export function forwardableHeaders(
  raw: string[],
  keep: ReadonlySet<string> = EMPTY,
  drop: ReadonlySet<string> = EMPTY,
): string[] {
  const named = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if ((HOP_BY_HOP.has(lower) || named.has(lower)) && !keep.has(lower)) continue;
    if (drop.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

const EMPTY: ReadonlySet<string> = new Set();

/** First value of a header in a raw array, case-insensitively. */
export function rawHeader(raw: string[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === lower) return raw[i + 1];
  return undefined;
}

/**
 * The Host field value for a request to `host`:`port` over `scheme`: the port is left out only when it is the scheme's
 * default (RFC 9110 §7.2, §4.2.1–4.2.2), so `http://h:443/` keeps its `:443`; an IPv6 address goes in brackets.
 */
export function hostField(host: string, port: number, scheme: 'http' | 'https'): string {
  const name = host.includes(':') ? `[${host}]` : host;
  return port === (scheme === 'https' ? 443 : 80) ? name : `${name}:${port}`;
}

/**
 * The head with `host` as its Host field. `replace` (a proxy forwarding an absolute-form request, RFC 9112 §3.2.2)
 * puts it in place of the first Host line, where the client had it, and drops any further ones; otherwise the
 * client's Host stays. With none, Host goes first (RFC 9112 §3.2). Returns `headers` itself when nothing changes.
 */
export function withHost(headers: string[], host: string, replace: boolean): string[] {
  if (!replace && rawHeader(headers, 'host') !== undefined) return headers;
  const out: string[] = [];
  let seen = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const isHost = headers[i]!.toLowerCase() === 'host';
    if (isHost && seen) continue;
    out.push(headers[i]!, isHost ? host : headers[i + 1]!);
    seen ||= isHost;
  }
  if (!seen) out.unshift('Host', host);
  return out;
}

/** Every value of field `name`, joined as one list (RFC 9110 §5.3: the order is the fields' order), or undefined. */
export function rawHeaderList(raw: string[], name: string): string | undefined {
  const lower = name.toLowerCase();
  let joined: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === lower) joined = joined === undefined ? raw[i + 1] : `${joined}, ${raw[i + 1]}`;
  }
  return joined;
}

/** Media type of a Content-Type value: lowercased, without parameters (RFC 9110 §8.3.1). */
export function mediaType(contentType: string | undefined): string | null {
  if (!contentType) return null;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === '' ? null : type;
}

/** `text` with every occurrence of the hidden values replaced by a marker that says what was there. */
export function hideValues(text: string, hidden: readonly string[]): string {
  let out = text;
  for (const value of hidden) if (value.length > 0 && out.includes(value)) out = out.split(value).join('[mitmlab live-view token]');
  return out;
}

/** A reason phrase Node can write: visible ASCII, spaces, tabs and obs-text (RFC 9112 §4); anything else dropped. */
export function sendableReason(reason: string | undefined): string {
  return (reason ?? '').replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
}
