// The four browser checks, against a per-run test PKI (real certificates, parsed by node:crypto).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import { TrustStore, verificationReason, verifyUpstreamChain } from '../../../server/tls/verification.js';
import { CertMemo } from '../../../server/core/cert-memo.js';

let pki: TestPki;
let trust: TrustStore;

beforeAll(async () => {
  pki = await createTestPki({ names: ['origin.test', '127.0.0.1'] });
  trust = new TrustStore([...tls.rootCertificates, pki.rootPem]);
});
afterAll(() => pki?.dispose());

const chainOf = (pem: string) => [new X509Certificate(pem)];
const checks = (v: ReturnType<typeof verifyUpstreamChain>) => Object.fromEntries(v.checks.map((c) => [c.check, c.ok]));

describe('verifyUpstreamChain', () => {
  it('a valid leaf from a trusted root passes all four checks', () => {
    const v = verifyUpstreamChain({ chain: chainOf(pki.valid.certPem), host: 'origin.test', nodeError: null, trust });
    expect(v.trusted).toBe(true);
    expect(checks(v)).toEqual({ validity: true, chain: true, name: true, signature: true });
    expect(v.checks.find((c) => c.check === 'chain')!.reason).toContain('trusted root');
  });

  it('matches IP literals against IP SANs', () => {
    const v = verifyUpstreamChain({ chain: chainOf(pki.valid.certPem), host: '127.0.0.1', nodeError: null, trust });
    expect(checks(v).name).toBe(true);
  });

  it('expired: only validity fails, and Node\'s code becomes the reason', () => {
    const v = verifyUpstreamChain({ chain: chainOf(pki.expired.certPem), host: 'origin.test', nodeError: 'CERT_HAS_EXPIRED', trust });
    expect(v.trusted).toBe(false);
    expect(v.reason).toBe('expired');
    expect(checks(v)).toEqual({ validity: false, chain: true, name: true, signature: true });
  });

  it('wrong host: only the name fails', () => {
    const v = verifyUpstreamChain({ chain: chainOf(pki.wrongHost.certPem), host: 'origin.test', nodeError: 'ERR_TLS_CERT_ALTNAME_INVALID', trust });
    expect(checks(v)).toEqual({ validity: true, chain: true, name: false, signature: true });
    expect(v.reason).toBe('name mismatch');
  });

  it('self-signed: the chain fails, its own signature verifies', () => {
    const v = verifyUpstreamChain({ chain: chainOf(pki.selfSigned.certPem), host: 'origin.test', nodeError: 'DEPTH_ZERO_SELF_SIGNED_CERT', trust });
    expect(checks(v)).toEqual({ validity: true, chain: false, name: true, signature: true });
    expect(v.checks.find((c) => c.check === 'chain')!.reason).toMatch(/^self-signed/);
  });

  it('an unknown issuer fails the chain check even when Node said nothing', () => {
    const untrusting = new TrustStore(tls.rootCertificates);
    const v = verifyUpstreamChain({ chain: chainOf(pki.valid.certPem), host: 'origin.test', nodeError: null, trust: untrusting });
    expect(v.trusted).toBe(false);
    expect(checks(v).chain).toBe(false);
    expect(v.reason).toMatch(/^unknown issuer/);
  });

  it('no certificate at all fails every check', () => {
    const v = verifyUpstreamChain({ chain: [], host: 'origin.test', nodeError: null, trust });
    expect(v.checks.every((c) => !c.ok)).toBe(true);
  });

  it('names OpenSSL codes in words', () => {
    expect(verificationReason('UNABLE_TO_GET_ISSUER_CERT_LOCALLY')).toBe('unknown issuer');
    expect(verificationReason('SOME_NEW_CODE')).toBe('some new code');
  });
});

describe('CertMemo.verify', () => {
  it('gives the same verdicts as verifyUpstreamChain while sharing one chain across hosts', () => {
    const memo = new CertMemo(trust);
    const chain = chainOf(pki.valid.certPem);
    for (const [host, nodeError] of [['origin.test', null], ['other.test', null], ['127.0.0.1', null], ['origin.test', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']] as const) {
      const memoized = memo.verify(chain, host, nodeError);
      expect(memoized).toEqual(verifyUpstreamChain({ chain, host, nodeError, trust }));
    }
    // A host the chain does not name fails the name check even though the chain's own checks were cached.
    const mismatch = memo.verify(chain, 'elsewhere.test', null);
    expect(mismatch.trusted).toBe(false);
    expect(checks(mismatch)).toEqual({ validity: true, chain: true, name: false, signature: true });
  });
});
