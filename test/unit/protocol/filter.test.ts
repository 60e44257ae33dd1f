import { describe, expect, it } from 'vitest';
import { parseFilter } from '../../../server/protocol/filter.js';
import type { FlowSummary } from '../../../server/protocol/flows.js';

function flow(overrides: Partial<Omit<FlowSummary, 'flags'>> & { flags?: Partial<FlowSummary['flags']> } = {}): FlowSummary {
  const { flags, ...rest } = overrides;
  return {
    id: 'c1.1',
    conn: 'c1',
    kind: 'http',
    startedAt: 0,
    client: { address: '127.0.0.1', port: 50000 },
    method: 'GET',
    url: 'https://shop.lab.test/index.html',
    host: 'shop.lab.test',
    port: 443,
    path: '/index.html',
    status: 200,
    mimeType: 'text/html',
    requestBytes: 0,
    responseBytes: 10,
    durationMs: 5,
    tlsVersion: 'TLSv1.3',
    upstreamTlsVersion: 'TLSv1.3',
    wsMessages: 0,
    state: 'done',
    error: null,
    failure: null,
    ...rest,
    flags: { secret: false, upstreamCertProblem: false, tlsFailed: false, synthetic: false, ...flags },
  };
}

const login = flow({
  id: 'c2.1',
  method: 'POST',
  url: 'https://auth.lab.test/login?next=%2F',
  host: 'auth.lab.test',
  path: '/login?next=%2F',
  status: 302,
  mimeType: null,
  tlsVersion: 'TLSv1.2',
  upstreamTlsVersion: 'TLSv1.3',
  flags: { secret: true },
});
const api = flow({ id: 'c3.1', url: 'http://api.lab.test/v1/items', host: 'api.lab.test', path: '/v1/items', mimeType: 'application/json', tlsVersion: null, upstreamTlsVersion: null, status: 404 });
const socket = flow({ id: 'c4.1', kind: 'websocket', url: 'wss://chat.lab.test/ws', host: 'chat.lab.test', status: 101, mimeType: null });
const refused = flow({
  id: 'c5',
  kind: 'tls-failure',
  method: null,
  url: null,
  path: null,
  host: 'bank.lab.test',
  status: null,
  mimeType: null,
  tlsVersion: null,
  upstreamTlsVersion: null,
  state: 'failed',
  error: "The browser refused mitmlab's certificate for bank.lab.test: it does not trust the lab CA.",
  flags: { tlsFailed: true },
});
const page = flow();
const all = [page, login, api, socket, refused];

function ids(text: string): string[] {
  const result = parseFilter(text);
  if (!result.ok) throw new Error(`unexpected parse error: ${result.error} at ${result.offset}`);
  return all.filter(result.match).map((s) => s.id);
}

function rejects(text: string): { error: string; offset: number } {
  const result = parseFilter(text);
  if (result.ok) throw new Error(`expected "${text}" to be rejected`);
  return result;
}

describe('parseFilter: evaluation', () => {
  it('matches everything when empty or blank', () => {
    expect(ids('')).toEqual(all.map((s) => s.id));
    expect(ids('   ')).toEqual(all.map((s) => s.id));
  });

  it('~d matches the host by case-insensitive regex', () => {
    expect(ids('~d auth')).toEqual(['c2.1']);
    expect(ids('~d ^API\\.')).toEqual(['c3.1']);
    expect(ids('~d lab.test$')).toHaveLength(5);
  });

  it('~u matches the URL, never a URL-less row', () => {
    expect(ids('~u /login')).toEqual(['c2.1']);
    expect(ids('~u ^wss:')).toEqual(['c4.1']);
    expect(ids('~u .')).not.toContain('c5');
  });

  it('~m compares the method case-insensitively', () => {
    expect(ids('~m post')).toEqual(['c2.1']);
    expect(ids('~m GET')).toEqual(['c1.1', 'c3.1', 'c4.1']);
  });

  it('~c takes an exact code or a class', () => {
    expect(ids('~c 404')).toEqual(['c3.1']);
    expect(ids('~c 3xx')).toEqual(['c2.1']);
    expect(ids('~c 2XX')).toEqual(['c1.1']);
  });

  it('~t matches the content type', () => {
    expect(ids('~t json')).toEqual(['c3.1']);
    expect(ids('~t html')).toEqual(['c1.1']);
  });

  it('~tls matches either leg and accepts several spellings', () => {
    expect(ids('~tls 1.2')).toEqual(['c2.1']);
    expect(ids('~tls TLSv1.2')).toEqual(['c2.1']);
    expect(ids('~tls 1.3')).toEqual(['c1.1', 'c2.1', 'c4.1']);
    expect(ids('~tls 1.0')).toEqual([]);
    expect(parseFilter('~tls 1.0').ok && (parseFilter('~tls 1.0') as { match: (s: FlowSummary) => boolean }).match(flow({ tlsVersion: 'TLSv1' }))).toBe(true);
  });

  it('~failed, ~ws and ~secret test flags', () => {
    expect(ids('~failed')).toEqual(['c5']);
    expect(ids('~ws')).toEqual(['c4.1']);
    expect(ids('~secret')).toEqual(['c2.1']);
  });

  it('free text matches the URL or the host, quoted text may hold spaces and operators', () => {
    expect(ids('items')).toEqual(['c3.1']);
    expect(ids('bank')).toEqual(['c5']);
    expect(ids('"next=%2F"')).toEqual(['c2.1']);
    expect(ids("'a|b'")).toEqual([]);
  });

  it('combines with !, &, | and parentheses, with mitmproxy precedence', () => {
    expect(ids('!~d lab')).toEqual([]);
    expect(ids('~m GET & ~c 404')).toEqual(['c3.1']);
    expect(ids('~m GET ~c 404')).toEqual(['c3.1']);
    expect(ids('~ws | ~secret')).toEqual(['c2.1', 'c4.1']);
    // & binds tighter than |: (~ws & ~secret) | ~failed
    expect(ids('~ws & ~secret | ~failed')).toEqual(['c5']);
    expect(ids('~ws & (~secret | ~failed)')).toEqual([]);
    // 101 (the WebSocket upgrade) is neither 2xx nor 3xx.
    expect(ids('!(~c 2xx | ~c 3xx) & ~d lab')).toEqual(['c3.1', 'c4.1', 'c5']);
    expect(ids('!!~ws')).toEqual(['c4.1']);
  });
});

describe('parseFilter: bad syntax gets a message and an offset', () => {
  it('unknown filter', () => {
    const r = rejects('~m GET & ~zz x');
    expect(r.error).toMatch(/Unknown filter ~zz/);
    expect(r.offset).toBe(9);
  });

  it('missing argument', () => {
    const r = rejects('~d');
    expect(r.error).toMatch(/~d needs a value/);
    expect(r.offset).toBe(2);
    expect(rejects('~c (').error).toMatch(/~c needs a value/);
  });

  it('bad regex', () => {
    // Unquoted values stop at operators, so a regex with parentheses must be quoted.
    expect(rejects('~u ([').error).toMatch(/~u needs a value/);
    expect(rejects('~u (login|json)').error).toMatch(/goes in quotes: ~u "\(login\|signin\)"/);
    const q = rejects('~u "(["');
    expect(q.error).toMatch(/Not a regular expression a filter can use/);
    expect(q.offset).toBe(3);
    expect(rejects('~u "(a)\\1"').error).toMatch(/backreferences .* are not supported/);
  });

  it('a pattern that makes a backtracking engine run for minutes is answered at once, on every row', () => {
    const parsed = parseFilter('~u "(.*){4}!" | ~d "(a+)+$x"');
    if (!parsed.ok) throw new Error(parsed.error);
    const row = flow({ url: `https://a.test/${'a'.repeat(4_000)}`, host: 'a'.repeat(200) });
    for (let i = 0; i < 20; i++) expect(parsed.match(row)).toBe(false);
  });

  it('bad status and TLS version', () => {
    expect(rejects('~c abc').error).toMatch(/status code/);
    expect(rejects('~c 6xx').error).toMatch(/status code/);
    expect(rejects('~tls 2.0').error).toMatch(/TLS version/);
  });

  it('unbalanced parentheses and dangling operators', () => {
    expect(rejects('(~ws').error).toMatch(/Missing "\)"/);
    expect(rejects('(~ws').offset).toBe(0);
    expect(rejects('~ws )').error).toMatch(/without a matching "\("/);
    expect(rejects('~ws |').error).toMatch(/ends where a term was expected/);
    expect(rejects('& ~ws').offset).toBe(0);
    expect(rejects('!').offset).toBe(1);
    expect(rejects('()').error).toMatch(/Expected a term before "\)"/);
  });

  it('unterminated quote and lone tilde', () => {
    expect(rejects('"abc').error).toMatch(/Missing closing "/);
    expect(rejects('~ x').error).toMatch(/must be followed by a filter name/);
  });

  it('never throws on arbitrary input', () => {
    let seed = 12345;
    const alphabet = '~!&|()"\' abcdmtuxsw1234.\\[]*+?^$';
    for (let n = 0; n < 2000; n++) {
      let text = '';
      const length = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 24;
      for (let i = 0; i < length; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        text += alphabet[seed % alphabet.length];
      }
      const result = parseFilter(text);
      if (result.ok) for (const s of all) expect(typeof result.match(s)).toBe('boolean');
      else expect(result.offset).toBeGreaterThanOrEqual(0);
    }
  });
});
