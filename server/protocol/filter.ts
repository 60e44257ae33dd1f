// The flow filter language, shared by the live view's filter box and `mitmlab export --filter`.
// A small subset of mitmproxy's filter expressions (https://docs.mitmproxy.org/stable/concepts-filters/),
// evaluated over FlowSummary rows. Pure: no node: imports, never throws on user input.
//
//   ~d REGEX     host             ~u REGEX    URL              ~m METHOD   method (case-insensitive)
//   ~c CODE      status: 404, 4xx  ~t REGEX    content type     ~tls VER    1.0 | 1.1 | 1.2 | 1.3, either leg
//   ~failed      failed flows     ~ws         WebSocket        ~secret     exposed credentials
//   !  &  |  ( ) operators (two terms side by side mean &), "quoted text", bare words = free text on URL or host.
//
// Precedence, as in mitmproxy: ! binds tightest, then &, then |.

import type { FlowSummary } from './flows.js';
import { compileLinearRegex, LinearRegexError, type LinearRegex } from './linear-regex.js';

export type FilterResult =
  | { ok: true; match: (summary: FlowSummary) => boolean }
  | { ok: false; error: string; offset: number };

type Predicate = (summary: FlowSummary) => boolean;

type Token =
  | { kind: 'op'; value: '!' | '&' | '|' | '(' | ')'; offset: number }
  | { kind: 'filter'; name: string; offset: number }
  | { kind: 'word'; value: string; offset: number };

/** The filters that take an argument, with an example used in error messages. */
const WITH_ARGUMENT: Record<string, string> = {
  d: '~d example.com',
  u: '~u /login',
  m: '~m POST',
  c: '~c 404',
  t: '~t json',
  tls: '~tls 1.3',
};
const WITHOUT_ARGUMENT = new Set(['failed', 'ws', 'secret']);

/** Longest filter text accepted: a filter box, not a program. */
const MAX_FILTER_LENGTH = 4096;

class FilterSyntaxError {
  constructor(
    readonly message: string,
    readonly offset: number,
  ) {}
}

/** Parses a filter expression; an empty expression matches every flow. */
export function parseFilter(text: string): FilterResult {
  if (text.length > MAX_FILTER_LENGTH) {
    return { ok: false, error: `The filter is longer than ${MAX_FILTER_LENGTH} characters.`, offset: MAX_FILTER_LENGTH };
  }
  try {
    const tokens = tokenize(text);
    if (tokens.length === 0) return { ok: true, match: () => true };
    const parser = new Parser(tokens, text.length);
    const predicate = parser.parseExpression();
    parser.expectEnd();
    return { ok: true, match: predicate };
  } catch (error) {
    if (error instanceof FilterSyntaxError) return { ok: false, error: error.message, offset: error.offset };
    // Anything else is a bug here, but a filter box must never take the page down.
    return { ok: false, error: `Cannot read this filter: ${String(error)}`, offset: 0 };
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '!' || c === '&' || c === '|' || c === '(' || c === ')') {
      tokens.push({ kind: 'op', value: c, offset: i });
      i++;
    } else if (c === '~') {
      const match = /^~([a-z0-9]*)/i.exec(text.slice(i))!;
      const name = match[1]!.toLowerCase();
      if (name === '') throw new FilterSyntaxError('"~" must be followed by a filter name, e.g. ~d or ~secret.', i);
      if (!(name in WITH_ARGUMENT) && !WITHOUT_ARGUMENT.has(name)) {
        throw new FilterSyntaxError(`Unknown filter ~${name}. Known: ${knownFilters()}.`, i);
      }
      tokens.push({ kind: 'filter', name, offset: i });
      i += match[0].length;
    } else if (c === '"' || c === "'") {
      const start = i;
      let value = '';
      i++;
      while (i < text.length && text[i] !== c) {
        // A backslash escapes the quote or itself; other backslashes stay (they matter in regexes).
        if (text[i] === '\\' && (text[i + 1] === c || text[i + 1] === '\\')) {
          value += text[i + 1];
          i += 2;
        } else {
          value += text[i];
          i++;
        }
      }
      if (i >= text.length) throw new FilterSyntaxError(`Missing closing ${c}.`, start);
      i++;
      tokens.push({ kind: 'word', value, offset: start });
    } else {
      const start = i;
      while (i < text.length && !/[\s!&|()"']/.test(text[i]!)) i++;
      tokens.push({ kind: 'word', value: text.slice(start, i), offset: start });
    }
  }
  return tokens;
}

function knownFilters(): string {
  return [...Object.keys(WITH_ARGUMENT), ...WITHOUT_ARGUMENT].map((name) => `~${name}`).join(' ');
}

class Parser {
  #pos = 0;
  constructor(
    readonly tokens: Token[],
    readonly end: number,
  ) {}

  parseExpression(): Predicate {
    let left = this.#parseAnd();
    while (this.#peekOp('|')) {
      this.#pos++;
      const right = this.#parseAnd();
      const a = left;
      left = (s) => a(s) || right(s);
    }
    return left;
  }

  expectEnd(): void {
    const token = this.tokens[this.#pos];
    if (token) {
      const what = token.kind === 'op' ? `"${token.value}"` : 'text';
      throw new FilterSyntaxError(`Unexpected ${what}${token.kind === 'op' && token.value === ')' ? ' without a matching "("' : ''}.`, token.offset);
    }
  }

  #parseAnd(): Predicate {
    let left = this.#parseUnary();
    for (;;) {
      const token = this.tokens[this.#pos];
      if (!token) break;
      if (token.kind === 'op' && token.value === '&') {
        this.#pos++;
      } else if (token.kind === 'op' && (token.value === '|' || token.value === ')')) {
        break;
      }
      // Two terms side by side mean "and", as in mitmproxy.
      const right = this.#parseUnary();
      const a = left;
      left = (s) => a(s) && right(s);
    }
    return left;
  }

  #parseUnary(): Predicate {
    if (this.#peekOp('!')) {
      this.#pos++;
      const inner = this.#parseUnary();
      return (s) => !inner(s);
    }
    return this.#parsePrimary();
  }

  #parsePrimary(): Predicate {
    const token = this.tokens[this.#pos];
    if (!token) throw new FilterSyntaxError('The filter ends where a term was expected.', this.end);
    if (token.kind === 'op') {
      if (token.value === '(') {
        this.#pos++;
        const inner = this.parseExpression();
        const close = this.tokens[this.#pos];
        if (!close || close.kind !== 'op' || close.value !== ')') {
          throw new FilterSyntaxError('Missing ")" for this "(".', token.offset);
        }
        this.#pos++;
        return inner;
      }
      throw new FilterSyntaxError(`Expected a term before "${token.value}".`, token.offset);
    }
    this.#pos++;
    if (token.kind === 'word') return freeText(token.value);
    if (WITHOUT_ARGUMENT.has(token.name)) return flagFilter(token.name);
    const argument = this.tokens[this.#pos];
    if (!argument || argument.kind !== 'word') {
      // A regular expression that starts with "(" or "!" reads as an operator unless it is quoted.
      const quoting = argument?.kind === 'op' && ['d', 'u', 't'].includes(token.name) ? ` A value with parentheses, "!", "&", "|" or spaces goes in quotes: ~${token.name} "(login|signin)".` : '';
      throw new FilterSyntaxError(`~${token.name} needs a value, e.g. ${WITH_ARGUMENT[token.name]}.${quoting}`, argument?.offset ?? this.end);
    }
    this.#pos++;
    return valueFilter(token.name, argument.value, argument.offset);
  }

  #peekOp(value: string): boolean {
    const token = this.tokens[this.#pos];
    return token !== undefined && token.kind === 'op' && token.value === value;
  }
}

function freeText(value: string): Predicate {
  const needle = value.toLowerCase();
  return (s) => s.host.toLowerCase().includes(needle) || (s.url?.toLowerCase().includes(needle) ?? false);
}

function flagFilter(name: string): Predicate {
  switch (name) {
    case 'failed':
      return (s) => s.state === 'failed' || s.flags.tlsFailed || s.error !== null;
    case 'ws':
      return (s) => s.kind === 'websocket';
    default:
      return (s) => s.flags.secret;
  }
}

function valueFilter(name: string, value: string, offset: number): Predicate {
  switch (name) {
    case 'd': {
      const re = regex(value, offset);
      return (s) => re.test(s.host);
    }
    case 'u': {
      const re = regex(value, offset);
      return (s) => s.url !== null && re.test(s.url);
    }
    case 't': {
      const re = regex(value, offset);
      return (s) => s.mimeType !== null && re.test(s.mimeType);
    }
    case 'm': {
      const method = value.toUpperCase();
      return (s) => s.method?.toUpperCase() === method;
    }
    case 'c':
      return statusFilter(value, offset);
    default:
      return tlsFilter(value, offset);
  }
}

function regex(source: string, offset: number): LinearRegex {
  try {
    // Case-insensitive like mitmproxy. Not RegExp: a backtracking pattern such as (.*){4}! would hold the thread
    // for minutes (the proxy's, during an export; the page's, as you type). See linear-regex.ts.
    return compileLinearRegex(source);
  } catch (error) {
    if (!(error instanceof LinearRegexError)) throw error;
    throw new FilterSyntaxError(`Not a regular expression a filter can use: ${source} (${error.message}).`, offset);
  }
}

function statusFilter(value: string, offset: number): Predicate {
  if (/^\d{3}$/.test(value)) {
    const code = Number(value);
    return (s) => s.status === code;
  }
  // 4xx, 5XX: a class of status codes (RFC 9110 §15).
  const klass = /^([1-5])xx$/i.exec(value);
  if (klass) {
    const first = Number(klass[1]);
    return (s) => s.status !== null && Math.floor(s.status / 100) === first;
  }
  throw new FilterSyntaxError(`~c takes a status code like 404 or a class like 4xx, not "${value}".`, offset);
}

function tlsFilter(value: string, offset: number): Predicate {
  const match = /^(?:tlsv?)?(1\.[0-3])$/i.exec(value);
  if (!match) throw new FilterSyntaxError(`~tls takes a TLS version: 1.0, 1.1, 1.2 or 1.3, not "${value}".`, offset);
  const wanted = `TLSv${match[1]}`;
  // Node reports TLS 1.0 as "TLSv1" (tls.TLSSocket#getProtocol).
  const alias = wanted === 'TLSv1.0' ? 'TLSv1' : wanted;
  const is = (version: string | null) => version === wanted || version === alias;
  return (s) => is(s.tlsVersion) || is(s.upstreamTlsVersion);
}
