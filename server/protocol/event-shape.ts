// The shape every stored event must have before a reader uses it. A session log can be damaged or edited by hand;
// one line of the right type but the wrong shape (`"headers":7`) must be skipped with a warning, never make a whole
// export or `start --session` fail. Fields marked `?` may be absent (older sessions lack them) but, when present,
// must have their kind.

import type { ProxyEvent, ProxyEventType } from './events.js';

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'strings' | 'numbers' | 'headers' | 'body';
/** A kind, `|null` when null is allowed, `?` when the field may be absent. */
type FieldSpec = `${Kind}${'' | '|null'}${'' | '?'}`;

const FLOW = { id: 'string', conn: 'string' } as const;

const SHAPES: Record<ProxyEventType, Record<string, FieldSpec>> = {
  'connection-open': { conn: 'string', client: 'object', mode: 'string?' },
  'connection-close': { conn: 'string', bytesIn: 'number?', bytesOut: 'number?' },
  connect: { conn: 'string', host: 'string', port: 'number' },
  'upstream-reused': { conn: 'string', from: 'string', host: 'string' },
  tunnel: { conn: 'string', host: 'string', port: 'number', reason: 'string' },
  'tls-client-hello': { conn: 'string', leg: 'string', hello: 'object', fingerprints: 'object?', raw: 'string?' },
  'tls-server-hello': { conn: 'string', leg: 'string', hello: 'object', raw: 'string?' },
  'tls-established': {
    conn: 'string',
    leg: 'string',
    version: 'string',
    cipher: 'string',
    alpn: 'string|null?',
    sni: 'string|null?',
    resumed: 'boolean?',
    group: 'string|null?',
    groupBits: 'number|null?',
    sharedSigalgs: 'strings?',
    connectMs: 'number|null?',
    handshakeMs: 'number?',
  },
  'tls-certificates': { conn: 'string', host: 'string', upstream: 'array', forged: 'array', verification: 'object', insecureAllowed: 'boolean?' },
  'tls-failed': { conn: 'string', leg: 'string', host: 'string', cause: 'string', message: 'string', alert: 'string|null?' },
  'tls-keylog': { conn: 'string', leg: 'string', line: 'string' },
  'tls-transcript': {
    conn: 'string',
    leg: 'string',
    steps: 'array',
    rawIn: 'string|null?',
    rawOut: 'string|null?',
    truncated: 'boolean?',
    appRecords: 'number?',
    appBytes: 'number?',
    order: 'numbers?',
  },
  'http-request': { ...FLOW, method: 'string', url: 'string', httpVersion: 'string?', headers: 'headers', body: 'body|null?', trailers: 'headers?', client: 'object?' },
  'http-response': {
    ...FLOW,
    status: 'number',
    statusText: 'string?',
    httpVersion: 'string?',
    headers: 'headers',
    body: 'body|null?',
    timings: 'object',
    synthetic: 'boolean?',
    interim: 'array?',
    trailers: 'headers?',
  },
  'secrets-found': { ...FLOW, secrets: 'array' },
  'ws-open': { ...FLOW, url: 'string', protocol: 'string|null?', extensions: 'string|null?' },
  'ws-message': { ...FLOW, direction: 'string', opcode: 'number', size: 'number', data: 'string', truncated: 'boolean?', undelivered: 'boolean?' },
  'ws-close': { ...FLOW, code: 'number', reason: 'string?', by: 'string?' },
  'proxy-error': { conn: 'string|null', id: 'string|null?', code: 'string', status: 'number|null?', message: 'string' },
  'store-error': { code: 'string', message: 'string' },
};

/**
 * What keeps a parsed JSON value from being an event this build understands (not an object, an unknown type, no
 * time, the wrong shape), or null when it is one. The store's reader and the live view's past-session reader share it.
 */
export function eventProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an event object';
  const { type, at } = value as { type?: unknown; at?: unknown };
  // SHAPES is a Record over every type, so it is also the list of known ones.
  if (typeof type !== 'string' || !Object.hasOwn(SHAPES, type)) return 'an unknown event type';
  if (typeof at !== 'number') return `${type} without a time`;
  return eventShapeProblem(type as ProxyEventType, value as Record<string, unknown>);
}

/** True when `value` is an event this build understands (eventProblem finds nothing). */
export function isProxyEvent(value: unknown): value is ProxyEvent {
  return eventProblem(value) === null;
}

/** What is wrong with an event of a known type (`type` and `at` already checked), or null when it has its shape. */
export function eventShapeProblem(type: ProxyEventType, event: Record<string, unknown>): string | null {
  for (const [field, spec] of Object.entries(SHAPES[type])) {
    const optional = spec.endsWith('?');
    const nullable = spec.includes('|null');
    const kind = spec.replace('?', '').replace('|null', '') as Kind;
    const value = event[field];
    if (value === undefined) {
      if (optional) continue;
      return `${type} without ${field}`;
    }
    if (value === null && nullable) continue;
    if (!hasKind(value, kind)) return `${type}: ${field} is not ${DESCRIBED[kind]}`;
  }
  if (type === 'http-response') {
    const timings = event.timings as Record<string, unknown>;
    for (const name of ['connect', 'send', 'wait', 'receive', 'total'] as const) {
      if (typeof timings[name] !== 'number') return `http-response: timings.${name} is not a number`;
    }
    for (const interim of (event.interim as Array<Record<string, unknown>> | undefined) ?? []) {
      if (typeof interim.status !== 'number' || !hasKind(interim.headers, 'headers')) return 'http-response: an interim response is not {status, headers}';
    }
  }
  return null;
}

const DESCRIBED: Record<Kind, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list of objects',
  strings: 'a list of strings',
  numbers: 'a list of numbers',
  headers: 'a list of [name, value] pairs',
  body: 'a body reference',
};

function hasKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'string':
    case 'number':
    case 'boolean':
      return typeof value === kind;
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value) && value.every((item) => typeof item === 'object' && item !== null);
    case 'strings':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
    case 'numbers':
      return Array.isArray(value) && value.every((item) => typeof item === 'number');
    case 'headers':
      // [[name, value], …] (RFC 9110 §5: field lines in order, repeats kept).
      return Array.isArray(value) && value.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && typeof pair[1] === 'string');
    case 'body': {
      const body = value as { sha256?: unknown; size?: unknown };
      return typeof value === 'object' && value !== null && typeof body.sha256 === 'string' && typeof body.size === 'number';
    }
  }
}
