// Finding credentials in captured plaintext: what a man in the middle with a trusted CA reads without effort.
// Pure and shared: the proxy core calls it on captured (capped) bodies and emits `secrets-found`; no node: imports.
// Never throws on hostile input: malformed base64, JSON or percent-encoding is skipped, not reported as an error.

import type { ExposedSecret, HeaderList } from './events.js';
import { strictUtf8 } from './utf8.js';

export interface SecretScanInput {
  headers: HeaderList;
  /** Absolute URL (requests) or the request URL the response answers. */
  url: string;
  /** The captured body as text (UTF-8, possibly truncated at --body-cap), or null. */
  body: string | null;
  /** Media type of the body, lowercased, without parameters. */
  mimeType: string | null;
  direction: 'request' | 'response';
}

/** At most this many secrets per message: a cookie jar can be large, the list must stay readable and bounded. */
export const MAX_SECRETS_PER_MESSAGE = 64;
/** Values longer than this are cut (with an ellipsis): a token is rarely longer, a blob is not a credential. */
export const MAX_SECRET_VALUE_LENGTH = 2048;
/** Nesting depth and entries visited when walking a JSON body. */
const MAX_JSON_DEPTH = 32;
const MAX_JSON_NODES = 20_000;

/** Field names that are exactly a credential: `pass` and `pwd` alone, not `passenger` or `pwdHint`. */
const EXACT_NAMES = new Set(['pass', 'pwd', 'pw', 'passphrase', 'pin', 'otp', 'auth', 'credentials', 'sessionid', 'sid', 'privatekey']);
/** Field names containing one of these are credentials: new_password, access_token, client_secret, x-api-key. */
const NAME_PARTS = ['password', 'passwd', 'secret', 'token', 'apikey', 'accesskey', 'privatekey'];

/** Headers that carry a credential as their whole value, besides Authorization and Cookie. */
const CREDENTIAL_HEADERS = new Set(['x-api-key', 'api-key', 'x-auth-token', 'x-access-token', 'x-csrf-token', 'x-xsrf-token', 'x-amz-security-token']);

/** True when a form field, JSON key, query parameter or header name names a credential. */
export function isSecretName(name: string): boolean {
  // Compare without case, dashes, underscores and dots: api_key, apiKey, API-KEY and api.key are one name.
  const key = name.toLowerCase().replace(/[-_.\s]/g, '');
  if (key.length === 0) return false;
  if (EXACT_NAMES.has(key)) return true;
  return NAME_PARTS.some((part) => key.includes(part));
}

/**
 * Whether findSecrets reads a body of this media type in this direction: forms and JSON both ways, multipart forms
 * in requests. The caller decodes only these bodies to text.
 */
export function scansBody(mimeType: string | null, direction: 'request' | 'response'): boolean {
  const mime = mimeType ?? '';
  if (mime === 'application/x-www-form-urlencoded' || mime === 'application/json' || mime.endsWith('+json')) return true;
  return direction === 'request' && mime === 'multipart/form-data';
}

/** The credentials visible in one request or response. */
export function findSecrets(input: SecretScanInput): ExposedSecret[] {
  const found = new Collector();
  const request = input.direction === 'request';
  for (const [rawName, value] of input.headers) {
    const name = rawName.toLowerCase();
    if (request && (name === 'authorization' || name === 'proxy-authorization')) authorization(found, rawName, value);
    else if (request && name === 'cookie') cookies(found, value);
    else if (!request && name === 'set-cookie') setCookie(found, value);
    else if (CREDENTIAL_HEADERS.has(name) || (isSecretName(name) && !name.startsWith('sec-'))) {
      found.add({ kind: 'authorization', name: rawName, value: value.trim(), location: request ? 'request-header' : 'response-header' });
    }
  }
  // Query parameters travel in the request line; report them once, with the request.
  if (request) queryParams(found, input.url);
  // Bodies: forms and JSON in both directions (a token endpoint answers with {"access_token": …}).
  if (input.body !== null && input.body.length > 0 && scansBody(input.mimeType, input.direction)) {
    const mime = input.mimeType ?? '';
    const location = request ? 'request-body' : 'response-body';
    if (mime === 'application/x-www-form-urlencoded') formFields(found, input.body, location);
    else if (mime === 'application/json' || mime.endsWith('+json')) jsonFields(found, input.body, location);
    else if (request && mime === 'multipart/form-data') multipartFields(found, input.body);
  }
  return found.list;
}

// A cheap test before parsing: every name isSecretName accepts contains one of these (case aside). Most WebSocket
// traffic (chat lines, game state, market ticks) has none and is never parsed.
const SECRETISH = /pass|pw|pin|otp|auth|cred|sid|secret|token|key/i;

/**
 * The credentials in one WebSocket text message (what ws-cap kept of it). RFC 6455 gives messages no media type:
 * JSON texts are read as JSON bodies are, including behind Socket.IO's packet prefix (`42["login",{…}]`, or
 * `42/chat,[…]` for a namespace); other texts are not guessed at.
 */
export function findSecretsInWsMessage(text: string, direction: 'send' | 'receive'): ExposedSecret[] {
  if (!SECRETISH.test(text)) return [];
  const json = text.replace(/^\d+(\/[^,[{]*,)?/, '');
  const first = json.trimStart()[0];
  if (first !== '{' && first !== '[') return [];
  const found = new Collector();
  jsonFields(found, json, direction === 'send' ? 'ws-send' : 'ws-receive');
  return found.list;
}

class Collector {
  readonly list: ExposedSecret[] = [];
  readonly #seen = new Set<string>();

  add(secret: ExposedSecret): void {
    if (this.list.length >= MAX_SECRETS_PER_MESSAGE || secret.value.length === 0) return;
    const value =
      secret.value.length > MAX_SECRET_VALUE_LENGTH ? `${secret.value.slice(0, MAX_SECRET_VALUE_LENGTH)}…` : secret.value;
    const key = `${secret.kind}\u0000${secret.name}\u0000${value}\u0000${secret.location}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.list.push({ ...secret, value });
  }
}

/** Authorization: Basic is only base64 of user:password (RFC 7617 §2); Bearer tokens are bearer instruments (RFC 6750). */
function authorization(found: Collector, name: string, value: string): void {
  const match = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:\s+(.*))?$/.exec(value);
  const scheme = match?.[1]?.toLowerCase();
  const credentials = match?.[2]?.trim() ?? '';
  if (scheme === 'basic') {
    const decoded = decodeBase64(credentials);
    if (decoded !== null && decoded.includes(':')) {
      found.add({ kind: 'basic-auth', name, value: decoded, location: 'request-header' });
      return;
    }
  } else if (scheme === 'bearer' && credentials) {
    found.add({ kind: 'bearer', name, value: credentials, location: 'request-header' });
    return;
  }
  found.add({ kind: 'authorization', name, value: value.trim(), location: 'request-header' });
}

/** Cookie: name=value pairs separated by "; " (RFC 6265 §4.2.1). Every cookie is shown: session ids are credentials. */
function cookies(found: Collector, header: string): void {
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    found.add({ kind: 'cookie', name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), location: 'request-header' });
  }
}

/** Set-Cookie: the first name=value pair, before the attributes (RFC 6265 §4.1.1). */
function setCookie(found: Collector, header: string): void {
  const first = header.split(';', 1)[0] ?? '';
  const eq = first.indexOf('=');
  if (eq <= 0) return;
  found.add({ kind: 'set-cookie', name: first.slice(0, eq).trim(), value: first.slice(eq + 1).trim(), location: 'response-header' });
}

function queryParams(found: Collector, url: string): void {
  const q = url.indexOf('?');
  if (q < 0) return;
  const hash = url.indexOf('#', q);
  for (const [name, value] of formPairs(url.slice(q + 1, hash < 0 ? undefined : hash))) {
    if (isSecretName(name)) found.add({ kind: 'query-param', name, value, location: 'url' });
  }
}

type BodyLocation = 'request-body' | 'response-body';
type JsonLocation = BodyLocation | 'ws-send' | 'ws-receive';

function formFields(found: Collector, body: string, location: BodyLocation): void {
  for (const [name, value] of formPairs(body)) {
    if (isSecretName(name)) found.add({ kind: 'form-field', name, value, location });
  }
}

/** application/x-www-form-urlencoded pairs (WHATWG URL §5.1); bad percent-escapes keep their raw text. */
function formPairs(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([formDecode(name), formDecode(value)]);
  }
  return pairs;
}

function formDecode(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

function jsonFields(found: Collector, body: string, location: JsonLocation): void {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return; // Truncated at --body-cap, or not JSON after all.
  }
  let nodes = 0;
  const walk = (node: unknown, path: string, depth: number): void => {
    if (depth > MAX_JSON_DEPTH || ++nodes > MAX_JSON_NODES || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}[${i}]`, depth + 1));
      return;
    }
    for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
      const childPath = path ? `${path}.${key}` : key;
      if (isSecretName(key) && (typeof child === 'string' || typeof child === 'number')) {
        found.add({ kind: 'json-field', name: childPath, value: String(child), location });
      } else {
        walk(child, childPath, depth + 1);
      }
    }
  };
  walk(value, '', 0);
}

/** multipart/form-data text fields (RFC 7578 §4.2): `Content-Disposition: form-data; name="password"`, blank line, value. */
function multipartFields(found: Collector, body: string): void {
  const parts = body.split(/\r?\n--/);
  for (const part of parts) {
    const headEnd = part.search(/\r?\n\r?\n/);
    if (headEnd < 0) continue;
    const head = part.slice(0, headEnd);
    const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(head)?.[1];
    if (!name || /\bfilename=/i.test(head) || !isSecretName(name)) continue;
    const value = part.slice(headEnd).replace(/^\r?\n\r?\n/, '').replace(/\r?\n$/, '');
    found.add({ kind: 'form-field', name, value, location: 'request-body' });
  }
}

/** Strict base64 (RFC 4648 §4) to UTF-8 text, or null. */
function decodeBase64(text: string): string | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 === 1) return null;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const bytes: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const c of text.replace(/=+$/, '')) {
    buffer = (buffer << 6) | alphabet.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((buffer >> bits) & 0xff);
    }
  }
  try {
    return strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    // RFC 7617 lets the charset be something else; show Latin-1 rather than nothing.
    return String.fromCharCode(...bytes);
  }
}
