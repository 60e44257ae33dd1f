import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabCa } from '../../../server/certs/ca.js';
import { mintLeaf } from '../../../server/certs/mint.js';
import { sanEntries, summarizeCertificate } from '../../../server/certs/summary.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import { freshCa, sharedLeafKey } from './fixtures.js';

let ca: LabCa;
let pki: TestPki;
beforeAll(async () => {
  [ca, pki] = await Promise.all([freshCa({ keyType: 'ec' }), createTestPki({ names: ['origin.test', '127.0.0.1'] })]);
});
afterAll(() => pki.dispose());

describe('summarizeCertificate', () => {
  it('summarizes a minted leaf', async () => {
    const leafKey = await sharedLeafKey('rsa');
    const minted = mintLeaf(ca, leafKey, [{ kind: 'dns', name: 'example.test' }, { kind: 'ip', address: '::1', version: 6 }]);
    const s = summarizeCertificate(minted.certDer);
    const x = new X509Certificate(minted.certDer);
    expect(s).toEqual({
      subject: 'CN=example.test',
      issuer: ca.subject,
      serial: x.serialNumber.toUpperCase(),
      notBefore: new Date(x.validFrom).toISOString(),
      notAfter: minted.notAfter.toISOString(),
      san: ['DNS:example.test', 'IP:0:0:0:0:0:0:0:1'],
      keyType: 'RSA',
      keyBits: 2048,
      signatureAlgorithm: 'ecdsa-with-SHA256',
      sha256: x.fingerprint256,
      isCA: false,
      pem: minted.certPem,
    });
  });

  it('summarizes the CA and a forge-built RSA origin certificate given as X509Certificate', () => {
    const c = summarizeCertificate(ca.cert);
    expect(c.isCA).toBe(true);
    expect(c.keyType).toBe('EC P-256');
    expect(c.keyBits).toBe(256);
    expect(c.san).toEqual([]);
    expect(c.subject).toBe(c.issuer);

    const o = summarizeCertificate(new X509Certificate(pki.valid.certPem));
    expect(o.signatureAlgorithm).toBe('sha256WithRSAEncryption');
    expect(o.san).toEqual(['DNS:origin.test', 'IP:127.0.0.1']);
    expect(o.subject).toBe('CN=origin.test');
    expect(o.sha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('throws a coded error for bytes that are not a certificate', () => {
    expect(() => summarizeCertificate(Buffer.from('not a certificate'))).toThrow(expect.objectContaining({ code: 'CERT_UNPARSABLE' }));
  });
});

describe('sanEntries', () => {
  it('maps Node’s text to DNS:/IP: entries and unquotes escaped values', () => {
    expect(sanEntries('DNS:a.test, IP Address:192.0.2.1, DNS:*.b.test')).toEqual(['DNS:a.test', 'IP:192.0.2.1', 'DNS:*.b.test']);
    expect(sanEntries('DNS:"a, b", DNS:c')).toEqual(['DNS:a, b', 'DNS:c']);
    expect(sanEntries(undefined)).toEqual([]);
  });
});
