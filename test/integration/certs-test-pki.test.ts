// The origin test PKI other tests rely on: each certificate is what its name says, checked by openssl and Node.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opensslVerify } from '../helpers/openssl.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { requireTools } from '../helpers/tools.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki({ names: ['origin.test', '127.0.0.1', '::1'] });
});
afterAll(() => pki.dispose());

describe('createTestPki', () => {
  it('the valid certificate covers exactly the requested names and chains to the root', () => {
    const x = new X509Certificate(pki.valid.certPem);
    const root = new X509Certificate(pki.rootPem);
    expect(x.subjectAltName).toBe('DNS:origin.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(x.checkIssued(root)).toBe(true);
    expect(x.verify(root.publicKey)).toBe(true);
    expect(root.ca).toBe(true);
    expect(x.ca).toBe(false);
    expect(x.checkPrivateKey(createPrivateKey(pki.valid.keyPem))).toBe(true);
    expect(pki.valid.chainPem).toBe(pki.valid.certPem + pki.rootPem);
  });

  it('the expired, wrong-host and self-signed certificates are broken in exactly one way', () => {
    const root = new X509Certificate(pki.rootPem);
    const expired = new X509Certificate(pki.expired.certPem);
    expect(new Date(expired.validTo).getTime()).toBeLessThan(Date.now());
    expect(expired.checkIssued(root)).toBe(true);
    const wrong = new X509Certificate(pki.wrongHost.certPem);
    expect(wrong.checkHost('origin.test')).toBeUndefined();
    expect(wrong.checkIssued(root)).toBe(true);
    const self = new X509Certificate(pki.selfSigned.certPem);
    expect(self.checkIssued(root)).toBe(false);
    expect(self.issuer).toBe(self.subject);
    expect(self.verify(self.publicKey)).toBe(true);
    expect(self.checkHost('origin.test')).toBe('origin.test');
  });

  it.skipIf(!requireTools('openssl'))('openssl agrees', async () => {
    expect((await opensslVerify(pki.rootPath, pki.valid.certPem, { hostname: 'origin.test' })).ok).toBe(true);
    expect((await opensslVerify(pki.rootPath, pki.valid.certPem, { ip: '::1' })).ok).toBe(true);
    const expired = await opensslVerify(pki.rootPath, pki.expired.certPem, { hostname: 'origin.test' });
    expect(expired.output).toContain('certificate has expired');
    const wrong = await opensslVerify(pki.rootPath, pki.wrongHost.certPem, { hostname: 'origin.test' });
    expect(wrong.output).toContain('hostname mismatch');
    const self = await opensslVerify(pki.rootPath, pki.selfSigned.certPem, { hostname: 'origin.test' });
    expect(self.output).toContain('self-signed certificate');
    expect([expired.ok, wrong.ok, self.ok]).toEqual([false, false, false]);
  });

  it('issues extra certificates and writes every file into its own folder', async () => {
    const extra = await pki.issue({ names: ['extra.test'] });
    expect(new X509Certificate(extra.certPem).subjectAltName).toBe('DNS:extra.test');
    expect(extra.certPath.startsWith(pki.dir)).toBe(true);
    const again = await createTestPki({ names: ['origin.test'] });
    expect(again.dir).not.toBe(pki.dir);
    expect(again.rootPem).not.toBe(pki.rootPem);
    await again.dispose();
  });
});
