// The filter's linear-time regular expressions: the same answers as JavaScript's RegExp (the oracle) on the syntax
// they share, reasons for what they refuse, and patterns that make RegExp backtrack for minutes answered at once.

import { describe, expect, it } from 'vitest';
import { compileLinearRegex, LinearRegexError } from '../../../server/protocol/linear-regex.js';

const TEXTS = [
  '',
  'https://shop.lab.test/login?next=%2Fcart',
  'http://127.0.0.1:8080/api/v1/users/42',
  'wss://chat.example.test/socket',
  'application/json; charset=utf-8',
  'text/html',
  'HTTPS://EXAMPLE.COM/Login',
  'a\nb',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!',
  'under_score-dash.dot',
  'é café naïve',
  // Case folding as RegExp's i flag does it (ECMA-262 Canonicalize), not as toLowerCase does.
  'ΑΣ', 'σ', 'ς', '\u212A', 'İ', 'ß', 'SS', 'ﬀ', 'ǅ', 'ǆ', 'ſ',
  '\x01', '\x05', '\v', 'xZ', '8', 'cA',
  // $ and \b at the real end of a long text.
  `${'a'.repeat(20_000)}b`,
  `https://a.test/${'x'.repeat(16_370)}.json`,
];

const PATTERNS = [
  'login',
  '/login$',
  '^https://',
  '^http://',
  'lab\\.test',
  'lab.test',
  '\\d+',
  '/users/\\d{2}$',
  '/users/\\d{3}$',
  'v[0-9]',
  '[^a-z:/.]',
  '(json|html)',
  '(?:shop|chat)\\.',
  '(?<host>shop)',
  'a{2,4}!',
  'a{40,}',
  'a*b',
  '^$',
  '^a.b$',
  '^a[\\s\\S]b$',
  '\\bdash\\b',
  '\\Bcore',
  'score\\B',
  '\\w+@',
  '\\x2F',
  '\\u0041PI',
  '[A-Z]{5}',
  'EXAMPLE',
  'caf[é]',
  'x|',
  '[]',
  '[^]b',
  'colou?r',
  '.*',
  '(a|b)*!',
  '[\\d.]+:\\d+',
  'https?',
  '/api/v\\d/',
  'é',
  '[-a]',
  '[a-]',
  'a{2}',
  '{',
  'a{,3}',
  '[\\t-~]',
  '[\\0-\\x1f]',
  '[\\b-z]',
  '[\\x00-\\t]',
  'x{00001}',
  'a{12345}',
  'σ',
  'ς',
  'k',
  'i',
  '^.$',
  '[s]',
  '[f]',
  '[ǅ]',
  '\\cA',
  '\\c1',
  '\\01',
  '\\xZ',
  '\\u{41}',
  '[\\B]',
  '[a-\\d]',
  '[\\1]',
  '\\k',
  '\\8',
  'a$',
  '\\.js$',
  'b\\b',
];

describe('linear regular expressions', () => {
  it.each(PATTERNS)('agrees with RegExp on %j', (pattern) => {
    const oracle = new RegExp(pattern, 'i');
    const ours = compileLinearRegex(pattern);
    for (const text of TEXTS) expect(ours.test(text), `${pattern} on ${JSON.stringify(text)}`).toBe(oracle.test(text));
  });

  it.each([
    ['(a)\\1', /backreferences/],
    ['(?=a)', /lookahead/],
    ['(?<!a)b', /lookahead and lookbehind/],
    ['(abc', /unterminated group/],
    ['abc)', /unmatched "\)"/],
    ['[abc', /unterminated character class/],
    ['*a', /nothing to repeat/],
    ['a**', /nothing to repeat/],
    ['a{3,2}', /out of order/],
    ['[z-a]', /out of order/],
    ['\\', /lone/],
    ['(a{1000}){1000}', /too large/],
    ['(((?:){99}){9999}){9999}', /too large/],
    ['{2}', /nothing to repeat/],
    ['a|{1}', /nothing to repeat/],
    ['x{2}{3}', /nothing to repeat/],
    [`${'('.repeat(200)}a${')'.repeat(200)}`, /nested more than 100 deep/],
  ])('refuses %j with a reason', (pattern, reason) => {
    expect(() => compileLinearRegex(pattern)).toThrow(LinearRegexError);
    expect(() => compileLinearRegex(pattern)).toThrow(reason);
  });

  it('gives ordinary patterns the right answer on long URLs (counted ranges, keyword lists)', () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9'.repeat(800);
    const url = `https://shop.lab.test/api/v1/session?jwt=${token}&next=/admin/abcdefgh.php&password=x`;
    const keywords = '(password|passwd|pwd|secret|token|api_key|apikey|auth|session|sid|key|pin|otp|code|hash|salt|cookie|bearer|jwt|nonce|grant)=';
    for (const pattern of ['\\w{8,64}\\.php', '[0-9a-z]{32}', keywords, '(?:[a-z0-9]{20,40}\\.)+php$', '\\.php&password']) {
      expect(compileLinearRegex(pattern).test(url), pattern).toBe(new RegExp(pattern, 'i').test(url));
    }
    expect(url.length).toBeGreaterThan(16_000);
  });

  it('answers patterns that make RegExp backtrack for minutes in one pass', () => {
    const url = `https://shop.lab.test/${'a'.repeat(5_000)}`;
    // Each of these takes RegExp seconds to hours on such a text; here each is one read of it.
    for (const pattern of ['(.*){4}!', '(a+)+!', '(a|a)*!', '.*.*.*.*.*!', '(a|aa)+$x']) {
      expect(compileLinearRegex(pattern).test(url), pattern).toBe(false);
    }
    expect(compileLinearRegex('(.*){4}a$').test(url)).toBe(true);
  });
});
