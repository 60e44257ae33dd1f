import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { childrenOf, decodeOid, readTlv } from '../../../server/certs/der.js';
import { ipToBytes, prefixMask } from '../../../server/certs/ip-bytes.js';
import { constraintsInWords, constraintsPermit, describeNameConstraints, permittedExampleHost, nameConstraintsValue, parsePermit } from '../../../server/certs/name-constraints.js';
import { toDer } from '../../../server/certs/asn1-build.js';
import { certificateParts } from '../../../server/certs/x509-parts.js';
import { freshCa } from './fixtures.js';

describe('ipToBytes', () => {
  it.each([
    ['192.0.2.1', 'c0000201'],
    ['::1', `${'0'.repeat(30)}01`],
    ['::', '0'.repeat(32)],
    ['2001:db8::8:800:200c:417a', '20010db80000000000080800200c417a'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['fe80::', `fe80${'0'.repeat(28)}`],
  ])('%s', (text, hex) => {
    expect(ipToBytes(text)?.toString('hex')).toBe(hex);
  });

  it.each([['1.2.3'], ['example.com'], ['fe80::1%eth0'], ['1::2::3'], ['']])('rejects %j', (text) => {
    expect(ipToBytes(text)).toBeNull();
  });

  it('makes prefix masks', () => {
    expect(prefixMask(8, 4).toString('hex')).toBe('ff000000');
    expect(prefixMask(20, 4).toString('hex')).toBe('fffff000');
    expect(prefixMask(0, 4).toString('hex')).toBe('00000000');
    expect(prefixMask(128, 16).toString('hex')).toBe('f'.repeat(32));
  });
});

describe('parsePermit', () => {
  it('parses suffixes, IPs and CIDRs, clearing host bits', () => {
    const parsed = parsePermit(['Lab.Test', '*.corp.test', '.x.test', '192.168.1.7/24', '::1', '2001:db8::/32']);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.dns).toEqual(['lab.test', 'corp.test', 'x.test']);
    expect(parsed.value.ip.map((r) => [r.address.toString('hex'), r.mask.toString('hex')])).toEqual([
      ['c0a80100', 'ffffff00'],
      [`${'0'.repeat(30)}01`, 'f'.repeat(32)],
      [`20010db8${'0'.repeat(24)}`, `ffffffff${'0'.repeat(24)}`],
    ]);
  });

  it.each([['a/b'], ['lab.test/8'], ['10.0.0.0/33'], ['::/129'], ['10.0.0.0/x'], [''], ['../x'], ['%00']])('rejects %j', (entry) => {
    const parsed = parsePermit([entry]);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain('ca-permit: ');
  });

  it('describes what it builds', () => {
    const parsed = parsePermit(['lab.test', '10.0.0.0/8']);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(describeNameConstraints(toDer(nameConstraintsValue(parsed.value)))).toEqual(['permit DNS:lab.test', 'permit IP:10.0.0.0/8']);
    const dnsOnly = parsePermit(['lab.test']);
    if (!dnsOnly.ok) throw new Error(dnsOnly.reason);
    expect(describeNameConstraints(toDer(nameConstraintsValue(dnsOnly.value)))).toEqual(['permit DNS:lab.test', 'exclude IP:0.0.0.0/0', 'exclude IP:::/0']);
    expect(constraintsInWords(['permit DNS:lab.test', 'exclude IP:0.0.0.0/0', 'exclude IP:::/0'])).toBe('names under lab.test, no IP addresses');
    expect(constraintsInWords(['permit DNS:.corp.test', 'permit IP:10.0.0.0/8', 'exclude DNS:hr.corp.test'])).toBe('names under corp.test, addresses in 10.0.0.0/8, not names under hr.corp.test');
    expect(permittedExampleHost(['permit IP:10.0.0.0/8', 'permit DNS:.lab.test'])).toBe('lab.test');
    expect(permittedExampleHost(['permit IP:10.0.0.0/8'])).toBeNull();
  });
});

describe('DER reader', () => {
  it('decodes OIDs', () => {
    expect(decodeOid(Buffer.from('2a864886f70d01010b', 'hex'))).toBe('1.2.840.113549.1.1.11');
    expect(decodeOid(Buffer.from('551d13', 'hex'))).toBe('2.5.29.19');
    expect(decodeOid(Buffer.from('80', 'hex'))).toBeNull();
    expect(decodeOid(Buffer.from('2a86', 'hex'))).toBeNull();
    expect(decodeOid(Buffer.alloc(0))).toBeNull();
  });

  it('reads long-form lengths and refuses indefinite or truncated ones', () => {
    const long = Buffer.concat([Buffer.from([0x04, 0x81, 0x80]), Buffer.alloc(0x80)]);
    expect(readTlv(long, 0)).toEqual({ tag: 0x04, start: 0, contentStart: 3, end: 0x83 });
    expect(readTlv(Buffer.from([0x30, 0x80, 0x00, 0x00]), 0)).toBeNull();
    expect(readTlv(Buffer.from([0x30, 0x05, 0x00]), 0)).toBeNull();
    expect(readTlv(Buffer.from([0x1f, 0x01, 0x00]), 0)).toBeNull();
    const seq = Buffer.from([0x30, 0x03, 0x02, 0x01]);
    expect(childrenOf(seq, { tag: 0x30, start: 0, contentStart: 2, end: 4 })).toBeNull();
  });

  it('never throws on any prefix or on random mutations of a real certificate (seeded)', async () => {
    const ca = await freshCa({ keyType: 'ec' });
    const der = ca.certDer;
    for (let n = 0; n < der.length; n++) expect(certificateParts(der.subarray(0, n))).toBeNull();
    expect(certificateParts(der)).not.toBeNull();
    let seed = 1234567;
    const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0);
    for (let i = 0; i < 3000; i++) {
      const copy = Buffer.from(der);
      for (let k = 0; k < 1 + (next() % 4); k++) copy[next() % copy.length] = next() & 0xff;
      expect(() => certificateParts(copy)).not.toThrow();
    }
    for (let i = 0; i < 200; i++) expect(() => certificateParts(crypto.randomBytes(next() % 300))).not.toThrow();
  });
});

describe('constraintsPermit', () => {
  const value = (entries: string[]): Buffer => {
    const parsed = parsePermit(entries);
    if (!parsed.ok) throw new Error(parsed.reason);
    return Buffer.from(toDer(nameConstraintsValue(parsed.value)));
  };
  const dns = (name: string) => ({ kind: 'dns', name }) as const;
  const ip = (address: string) => ({ kind: 'ip', address, version: address.includes(':') ? 6 : 4 }) as const;

  it('DNS suffixes cover the name and every name below it, and close the IP form', () => {
    const lab = value(['lab.test']);
    expect(constraintsPermit(lab, dns('lab.test'))).toBe(true);
    expect(constraintsPermit(lab, dns('www.lab.test'))).toBe(true);
    expect(constraintsPermit(lab, dns('*.lab.test'))).toBe(true);
    expect(constraintsPermit(lab, dns('evillab.test'))).toBe(false);
    expect(constraintsPermit(lab, dns('example.com'))).toBe(false);
    expect(constraintsPermit(lab, ip('127.0.0.1'))).toBe(false);
    expect(constraintsPermit(lab, ip('::1'))).toBe(false);
  });

  it('IP ranges match by prefix; with no DNS suffix only the reserved "invalid" is permitted', () => {
    const net = value(['10.0.0.0/8', '::1']);
    expect(constraintsPermit(net, ip('10.1.2.3'))).toBe(true);
    expect(constraintsPermit(net, ip('11.0.0.1'))).toBe(false);
    expect(constraintsPermit(net, ip('::1'))).toBe(true);
    expect(constraintsPermit(net, ip('::2'))).toBe(false);
    expect(constraintsPermit(net, dns('lab.test'))).toBe(false);
  });
});
