import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LabCa } from '../../../server/certs/ca.js';
import { normalizeHost, type HostName } from '../../../server/certs/hostnames.js';
import { leafValidity, MAX_LEAF_DAYS, mintLeaf, mintLeafAsync } from '../../../server/certs/mint.js';
import { freshCa, sharedLeafKey } from './fixtures.js';
import { forgeRead, keyUsageBits, OIDS } from './forge-read.js';

const DAY = 86_400_000;
const host = (s: string): HostName => {
  const h = normalizeHost(s);
  if (h.kind === 'invalid') throw new Error(h.reason);
  return h;
};

let rsaCa: LabCa;
let ecCa: LabCa;
beforeAll(async () => {
  [rsaCa, ecCa] = await Promise.all([freshCa(), freshCa({ keyType: 'ec' })]);
});

describe.each([
  ['RSA CA, RSA leaf key', 'rsa', 'rsa'],
  ['RSA CA, EC leaf key', 'rsa', 'ec'],
  ['EC CA, RSA leaf key', 'ec', 'rsa'],
  ['EC CA, EC leaf key', 'ec', 'ec'],
] as const)('mintLeaf profile: %s', (_label, caType, leafType) => {
  it('produces a certificate every extension of which matches the profile', async () => {
    const ca = caType === 'rsa' ? rsaCa : ecCa;
    const leafKey = await sharedLeafKey(leafType);
    // After the CA's creation (its notBefore is a day before), so the leaf's backdating is not capped by it.
    const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 3 * DAY + 500);
    const minted = mintLeaf(ca, leafKey, [host('example.test'), host('127.0.0.1'), host('::1')], now);

    // node:crypto's view.
    const x = new X509Certificate(minted.certDer);
    expect(x.toString()).toBe(minted.certPem);
    expect(x.subject).toBe('CN=example.test');
    expect(x.issuer).toBe(ca.cert.subject);
    expect(x.checkIssued(ca.cert)).toBe(true);
    expect(x.verify(ca.cert.publicKey)).toBe(true);
    expect(x.ca).toBe(false);
    expect(x.subjectAltName).toBe('DNS:example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(x.checkHost('example.test')).toBe('example.test');
    expect(x.checkIP('::1')).toBe('::1');
    expect(x.publicKey.export({ type: 'spki', format: 'der' }).equals(leafKey.spkiDer)).toBe(true);

    // Validity: backdated one day, at most 47 days long, reported notAfter matches.
    const notBefore = new Date(x.validFrom).getTime();
    const notAfter = new Date(x.validTo).getTime();
    expect(notBefore).toBe(now.getTime() - 500 - DAY);
    expect(notAfter - notBefore).toBeLessThanOrEqual(MAX_LEAF_DAYS * DAY);
    expect(notAfter - notBefore).toBeGreaterThan((MAX_LEAF_DAYS - 1) * DAY);
    expect(minted.notAfter.getTime()).toBe(notAfter);
    expect(notAfter).toBeLessThanOrEqual(ca.notAfter.getTime());

    // forge's view of the structure.
    const f = forgeRead(minted.certDer);
    expect(f.version).toBe(2);
    expect(f.serialHex).toHaveLength(32);
    expect(parseInt(f.serialHex.slice(0, 2), 16)).toBeGreaterThanOrEqual(1);
    expect(parseInt(f.serialHex.slice(0, 2), 16)).toBeLessThan(0x80);
    const sigOid = caType === 'rsa' ? OIDS.sha256WithRSAEncryption : OIDS.ecdsaWithSHA256;
    expect(f.signatureOid).toBe(sigOid);
    expect(f.outerSignatureOid).toBe(sigOid);
    expect(f.notBeforeTag).toBe(forge.asn1.Type.UTCTIME);

    const ext = new Map(f.extensions.map((e) => [e.oid, e]));
    expect(ext.size).toBe(f.extensions.length); // no duplicates
    expect([...ext.keys()].sort()).toEqual(
      [OIDS.keyUsage, OIDS.extKeyUsage, OIDS.basicConstraints, OIDS.authorityKeyIdentifier, OIDS.subjectAltName].sort(),
    );
    expect(ext.has(OIDS.subjectKeyIdentifier)).toBe(false);

    const ku = ext.get(OIDS.keyUsage)!;
    expect(ku.critical).toBe(true);
    expect(keyUsageBits(ku.value)).toEqual(leafType === 'rsa' ? [0, 2] : [0]);

    const eku = ext.get(OIDS.extKeyUsage)!;
    expect(eku.critical).toBe(false);
    expect((eku.value.value as forge.asn1.Asn1[]).map((o) => forge.asn1.derToOid(o.value as string))).toEqual([OIDS.serverAuth]);

    const bc = ext.get(OIDS.basicConstraints)!;
    expect(bc.critical).toBe(true);
    expect(bc.value.value).toEqual([]); // cA absent = FALSE, no pathLen

    const aki = ext.get(OIDS.authorityKeyIdentifier)!;
    expect(aki.critical).toBe(false);
    const akiParts = aki.value.value as forge.asn1.Asn1[];
    expect(akiParts).toHaveLength(1);
    expect(akiParts[0]!.type).toBe(0);
    expect(Buffer.from(akiParts[0]!.value as string, 'latin1').equals(ca.ski)).toBe(true);

    const san = ext.get(OIDS.subjectAltName)!;
    expect(san.critical).toBe(false);
  });
});

describe('mintLeaf names and limits', () => {
  it('makes each serial random and positive', async () => {
    const leafKey = await sharedLeafKey('ec');
    const serials = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const hex = forgeRead(mintLeaf(ecCa, leafKey, [host('a.test')]).certDer).serialHex;
      expect(parseInt(hex.slice(0, 2), 16)).toBeGreaterThan(0);
      expect(parseInt(hex.slice(0, 2), 16)).toBeLessThan(0x80);
      serials.add(hex);
    }
    expect(serials.size).toBe(50);
  });

  it('omits the CN and marks the SAN critical when the name exceeds 64 characters (RFC 5280 §4.2.1.6)', async () => {
    const leafKey = await sharedLeafKey('ec');
    const long = `${'a'.repeat(60)}.example.test`;
    const minted = mintLeaf(ecCa, leafKey, [host(long)]);
    const x = new X509Certificate(minted.certDer);
    expect(x.subject ?? '').toBe('');
    expect(x.subjectAltName).toBe(`DNS:${long}`);
    const san = forgeRead(minted.certDer).extensions.find((e) => e.oid === OIDS.subjectAltName)!;
    expect(san.critical).toBe(true);
  });

  it('uses the first name that fits for the CN and keeps every name in the SAN', async () => {
    const leafKey = await sharedLeafKey('ec');
    const long = `${'b'.repeat(60)}.example.test`;
    const x = new X509Certificate(mintLeaf(ecCa, leafKey, [host(long), host('short.test')]).certDer);
    expect(x.subject).toBe('CN=short.test');
    expect(x.subjectAltName).toBe(`DNS:${long}, DNS:short.test`);
  });

  it('has no CN for an IP-only certificate (the SAN carries the address)', async () => {
    const leafKey = await sharedLeafKey('ec');
    const x = new X509Certificate(mintLeaf(ecCa, leafKey, [host('192.0.2.7')]).certDer);
    expect(x.subject ?? '').toBe('');
    expect(x.subjectAltName).toBe('IP Address:192.0.2.7');
  });

  it('maps a leftmost underscore label to the parent wildcard and deduplicates', async () => {
    const leafKey = await sharedLeafKey('ec');
    const minted = mintLeaf(ecCa, leafKey, [host('a_b.example.test'), host('c_d.example.test'), host('example.test')]);
    expect(minted.names).toEqual(['*.example.test', 'example.test']);
    const x = new X509Certificate(minted.certDer);
    expect(x.subjectAltName).toBe('DNS:*.example.test, DNS:example.test');
    // Node's TLS client (like Chromium) matches it; OpenSSL's X509_check_host does not accept '_' under a wildcard.
    expect(tls.checkServerIdentity('a_b.example.test', x.toLegacyObject())).toBeUndefined();
  });

  it('keeps a name with no valid form only when it comes first', async () => {
    const leafKey = await sharedLeafKey('ec');
    expect(mintLeaf(ecCa, leafKey, [host('x.a_b.example.test'), host('ok.test')]).names).toEqual(['x.a_b.example.test', 'ok.test']);
    expect(mintLeaf(ecCa, leafKey, [host('ok.test'), host('x.a_b.example.test')]).names).toEqual(['ok.test']);
  });

  it('accepts wildcard names passed in directly (copied from an origin certificate)', async () => {
    const leafKey = await sharedLeafKey('ec');
    const minted = mintLeaf(ecCa, leafKey, [host('www.example.test'), { kind: 'dns', name: '*.example.test' }]);
    expect(minted.names).toEqual(['www.example.test', '*.example.test']);
  });

  it('refuses no names, hostile names and too many names with stable codes', async () => {
    const leafKey = await sharedLeafKey('ec');
    expect(() => mintLeaf(ecCa, leafKey, [])).toThrow(expect.objectContaining({ code: 'MINT_NO_NAMES' }));
    expect(() => mintLeaf(ecCa, leafKey, [{ kind: 'dns', name: '../x' }])).toThrow(expect.objectContaining({ code: 'MINT_BAD_NAME' }));
    expect(() => mintLeaf(ecCa, leafKey, [{ kind: 'ip', address: 'not-an-ip', version: 4 }])).toThrow(expect.objectContaining({ code: 'MINT_BAD_NAME' }));
    const many = Array.from({ length: 201 }, (_, i) => host(`h${i}.test`));
    expect(() => mintLeaf(ecCa, leafKey, many)).toThrow(expect.objectContaining({ code: 'MINT_TOO_MANY_NAMES' }));
  });

  it('never outlives the CA, and refuses to mint once the CA has expired', async () => {
    const leafKey = await sharedLeafKey('ec');
    const now = new Date('2026-11-22T00:00:00Z');
    const shortCa = await freshCa({ keyType: 'ec', validDays: 10, now });
    const minted = mintLeaf(shortCa, leafKey, [host('a.test')], now);
    expect(minted.notAfter.getTime()).toBe(shortCa.notAfter.getTime());
    expect(new Date(new X509Certificate(minted.certDer).validTo).getTime()).toBe(shortCa.notAfter.getTime());
    expect(() => mintLeaf(shortCa, leafKey, [host('a.test')], new Date(now.getTime() + 11 * DAY))).toThrow(
      expect.objectContaining({ code: 'CA_EXPIRED' }),
    );
  });

  it('does not start before the CA does', () => {
    const ca = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2027-01-01T00:00:00Z') };
    const v = leafValidity(ca, new Date('2026-01-01T06:00:00Z'));
    expect(v.notBefore.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(v.notAfter.getTime() - v.notBefore.getTime()).toBe(MAX_LEAF_DAYS * DAY - 1000);
  });

  it('switches to GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', async () => {
    const leafKey = await sharedLeafKey('ec');
    const now = new Date('2049-12-20T00:00:00Z');
    const ca = await freshCa({ keyType: 'ec', now });
    const minted = mintLeaf(ca, leafKey, [host('a.test')], now);
    const f = forgeRead(minted.certDer);
    expect(f.notBeforeTag).toBe(forge.asn1.Type.UTCTIME);
    expect(f.notAfterTag).toBe(forge.asn1.Type.GENERALIZEDTIME);
    const x = new X509Certificate(minted.certDer);
    expect(new Date(x.validTo).getUTCFullYear()).toBe(2050);
  });

  it('mintLeafAsync signs off the event loop and yields the same profile', async () => {
    const leafKey = await sharedLeafKey('rsa');
    const minted = await mintLeafAsync(rsaCa, leafKey, [host('async.test')]);
    const x = new X509Certificate(minted.certDer);
    expect(x.subject).toBe('CN=async.test');
    expect(x.verify(rsaCa.cert.publicKey)).toBe(true);
  });
});
