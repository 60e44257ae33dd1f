import { describe, expect, it } from 'vitest';
import { inAnyCidr, isLocalAddress, isOwnEndpoint, matchesAny, matchesHostPattern, parseCidr } from '../../../server/core/policy.js';

describe('host patterns', () => {
  it.each([
    ['example.com', 'example.com', true],
    ['www.example.com', 'example.com', false],
    ['www.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['a.b.example.com', '*.example.com', true],
    ['example.com', '.example.com', true],
    ['x.example.com', '.example.com', true],
    ['badexample.com', '.example.com', false],
    ['badexample.com', '*.example.com', false],
    ['EXAMPLE.com', 'example.COM', true],
  ])('%s vs %s → %s', (host, pattern, expected) => {
    expect(matchesHostPattern(host, pattern)).toBe(expected);
  });

  it('matches any of several names, ignoring nulls', () => {
    expect(matchesAny([null, 'a.test'], ['a.test'])).toBe(true);
    expect(matchesAny([undefined, 'b.test'], ['a.test'])).toBe(false);
  });
});

describe('own endpoints (loop guard)', () => {
  const own = { ports: [8080, 8081], localAddresses: ['192.0.2.10'] };
  it.each([
    ['127.0.0.1', 8080, true],
    ['127.9.9.9', 8081, true],
    ['0.0.0.0', 8080, true],
    ['::1', 8081, true],
    ['::ffff:127.0.0.1', 8080, true],
    ['::ffff:7f00:1', 8080, true],
    ['0:0:0:0:0:ffff:7f00:0001', 8081, true],
    ['0:0:0:0:0:0:0:1', 8081, true],
    ['192.0.2.10', 8080, true],
    ['192.0.2.11', 8080, false],
    ['127.0.0.1', 443, false],
  ])('%s:%d → %s', (address, port, expected) => {
    expect(isOwnEndpoint(address, port, own)).toBe(expected);
  });
  it('knows loopback without a list', () => {
    expect(isLocalAddress('127.0.0.1', [])).toBe(true);
    expect(isLocalAddress('10.0.0.1', [])).toBe(false);
  });
});

describe('CIDR blocks (--allow)', () => {
  it('parses v4 and v6 blocks and rejects junk', () => {
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ family: 4, prefix: 8 });
    expect(parseCidr('fd00::/8')).toMatchObject({ family: 6, prefix: 8 });
    expect(parseCidr('192.0.2.1')).toMatchObject({ prefix: 32 });
    for (const bad of ['10.0.0.0/33', 'x/8', '10.0.0.0/', '10.0.0.0/8x', '::/129', '']) expect(parseCidr(bad)).toBeNull();
  });
  it.each([
    ['10.1.2.3', '10.0.0.0/8', true],
    ['11.1.2.3', '10.0.0.0/8', false],
    ['192.168.1.200', '192.168.1.128/25', true],
    ['192.168.1.100', '192.168.1.128/25', false],
    ['::ffff:10.0.0.1', '10.0.0.0/8', true],
    ['fd12:3456::1', 'fd00::/8', true],
    ['fe80::1', 'fd00::/8', false],
    ['2001:db8::1', '2001:db8::/32', true],
    ['2001:db9::1', '2001:db8::/32', false],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.0/120', false],
  ])('%s in %s → %s', (address, block, expected) => {
    expect(inAnyCidr(address, [parseCidr(block)!])).toBe(expected);
  });
});
