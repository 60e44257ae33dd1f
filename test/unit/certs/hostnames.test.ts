import { describe, expect, it } from 'vitest';
import { certNamesFor, hostKey, isCertDnsName, namesCover, normalizeHost, sanForHost, type HostName } from '../../../server/certs/hostnames.js';

describe('normalizeHost', () => {
  const valid: Array<[string, HostName]> = [
    ['example.com', { kind: 'dns', name: 'example.com' }],
    ['Example.COM', { kind: 'dns', name: 'example.com' }],
    ['example.com.', { kind: 'dns', name: 'example.com' }],
    ['localhost', { kind: 'dns', name: 'localhost' }],
    ['a-b.c-d.example', { kind: 'dns', name: 'a-b.c-d.example' }],
    ['_dmarc.example.com', { kind: 'dns', name: '_dmarc.example.com' }],
    ['a_b.example.com', { kind: 'dns', name: 'a_b.example.com' }],
    ['bücher.example', { kind: 'dns', name: 'xn--bcher-kva.example' }],
    ['BÜCHER.example', { kind: 'dns', name: 'xn--bcher-kva.example' }],
    ['xn--bcher-kva.example', { kind: 'dns', name: 'xn--bcher-kva.example' }],
    ['例え.テスト', { kind: 'dns', name: 'xn--r8jz45g.xn--zckzah' }],
    ['127.0.0.1', { kind: 'ip', address: '127.0.0.1', version: 4 }],
    ['192.0.2.255', { kind: 'ip', address: '192.0.2.255', version: 4 }],
    ['::1', { kind: 'ip', address: '::1', version: 6 }],
    ['[::1]', { kind: 'ip', address: '::1', version: 6 }],
    ['[2001:DB8:0:0:0:0:0:1]', { kind: 'ip', address: '2001:db8::1', version: 6 }],
    ['::ffff:192.0.2.1', { kind: 'ip', address: '::ffff:c000:201', version: 6 }],
    [`${'a'.repeat(63)}.example`, { kind: 'dns', name: `${'a'.repeat(63)}.example` }],
  ];
  it.each(valid)('accepts %j', (input, expected) => {
    expect(normalizeHost(input)).toEqual(expected);
  });

  const invalid: string[] = [
    '',
    '.',
    '..',
    '../../x',
    '..\\..\\x',
    'a/b',
    'a\\b',
    '%00',
    'a%00b.com',
    'a\0b.com',
    'exa mple.com',
    ' example.com',
    'example.com ',
    'example..com',
    '.example.com',
    'example.com..',
    '-example.com',
    'example-.com',
    'ex*ample.com',
    '*.example.com',
    'user@example.com',
    'example.com:443',
    'example.com/path',
    'example.com?q',
    'example.com#f',
    'ex\uff0fample.com', // fullwidth solidus: IDNA maps it to '/'
    `${'a'.repeat(64)}.example`,
    `${'abcdefghi.'.repeat(26)}com`,
    'x'.repeat(2000),
    '[::1',
    '::1]',
    '[127.0.0.1]',
    'fe80::1%eth0',
    '[fe80::1%25eth0]',
    '127.1',
    '0x7f.1',
    '1.2.3.04',
    '010.1.1.1',
    'example.123',
    'xn--zz.example',
    'a\r\nb',
    'café\u0000.com',
  ];
  it.each(invalid.map((s) => [s]))('rejects %j', (input) => {
    const result = normalizeHost(input);
    expect(result.kind).toBe('invalid');
    expect(result.kind === 'invalid' && result.reason.length).toBeGreaterThan(0);
  });

  it('never throws and never lets a path character through (seeded fuzz)', () => {
    let seed = 0x2545f491;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const alphabet = 'ab.-_/\\%:[]*@ 0\u0000\u00fc\uff0f\u3002xn1';
    for (let i = 0; i < 5000; i++) {
      const length = next() % 24;
      let input = '';
      for (let j = 0; j < length; j++) input += alphabet[next() % alphabet.length];
      const result = normalizeHost(input);
      if (result.kind === 'dns') expect(result.name).toMatch(/^[a-z0-9_.-]+$/);
      if (result.kind === 'dns') expect(result.name).not.toContain('..');
    }
  });
});

describe('certNamesFor', () => {
  const dns = (name: string): HostName => ({ kind: 'dns', name });
  it.each([
    ['example.com', ['example.com']],
    ['a_b.example.com', ['*.example.com']],
    ['_dmarc.mail.example.com', ['*.mail.example.com']],
    // No valid dNSName form: kept literally (best effort).
    ['a_b.test', ['a_b.test']],
    ['x.a_b.example.com', ['x.a_b.example.com']],
  ])('%s → %j', (input, expected) => {
    expect(certNamesFor(dns(input)).map(hostKey)).toEqual(expected);
  });

  it('keeps IP addresses as they are', () => {
    expect(certNamesFor({ kind: 'ip', address: '::1', version: 6 })).toEqual([{ kind: 'ip', address: '::1', version: 6 }]);
  });
});

describe('sanForHost and isCertDnsName', () => {
  it('formats SAN entries as mitmlab shows them', () => {
    expect(sanForHost({ kind: 'dns', name: 'example.com' })).toBe('DNS:example.com');
    expect(sanForHost({ kind: 'ip', address: '192.0.2.1', version: 4 })).toBe('IP:192.0.2.1');
  });

  it('accepts LDH names and a leading wildcard only', () => {
    expect(isCertDnsName('*.example.com')).toBe(true);
    expect(isCertDnsName('a_b.example.com')).toBe(true);
    expect(isCertDnsName('a.*.example.com')).toBe(false);
    expect(isCertDnsName('*')).toBe(false);
    expect(isCertDnsName('a..b')).toBe(false);
    expect(isCertDnsName('a/b')).toBe(false);
  });
});

describe('namesCover (RFC 6125 §6.4.3)', () => {
  const dns = (name: string): HostName => ({ kind: 'dns', name });
  const ip = (address: string, version: 4 | 6 = 4): HostName => ({ kind: 'ip', address, version });

  it('matches the same name, or a wildcard exactly one label above it', () => {
    const names = [dns('example.com'), dns('*.example.com')];
    expect(namesCover(names, dns('example.com'))).toBe(true);
    expect(namesCover(names, dns('www.example.com'))).toBe(true);
    expect(namesCover(names, dns('a.b.example.com'))).toBe(false);
    expect(namesCover(names, dns('example.org'))).toBe(false);
    expect(namesCover([dns('*.example.com')], dns('example.com'))).toBe(false);
  });

  it('a wildcard over a single label covers nothing (browsers, Node and OpenSSL refuse *.test)', () => {
    expect(namesCover([dns('*.test')], dns('b.test'))).toBe(false);
    expect(namesCover([dns('*.test')], dns('test'))).toBe(false);
    expect(namesCover([dns('b.test')], dns('b.test'))).toBe(true);
  });

  it('matches IP literals only against the same IP', () => {
    expect(namesCover([ip('127.0.0.1'), dns('localhost')], ip('127.0.0.1'))).toBe(true);
    expect(namesCover([dns('127.0.0.1')], ip('127.0.0.1'))).toBe(false);
    expect(namesCover([ip('::1', 6)], ip('::1', 6))).toBe(true);
    expect(namesCover([ip('127.0.0.2')], ip('127.0.0.1'))).toBe(false);
  });

  it("ignores names with '_', which a forged certificate keeps only in first place", () => {
    expect(namesCover([dns('a_b.example.com')], dns('a_b.example.com'))).toBe(false);
    expect(namesCover([dns('*.x_y.example.com')], dns('a.x_y.example.com'))).toBe(false);
  });
});
