// Every certificate mitmlab mints, checked by an independent verifier: `openssl verify -x509_strict`.

import { beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateCa, type LabCa } from '../../server/certs/ca.js';
import { normalizeHost, type HostName } from '../../server/certs/hostnames.js';
import { generateLeafKey, type LeafKey } from '../../server/certs/leaf-key.js';
import { mintLeaf } from '../../server/certs/mint.js';
import { opensslFingerprint, opensslText, opensslVerify } from '../helpers/openssl.js';
import { requireTools } from '../helpers/tools.js';
import { tempDir } from '../unit/certs/fixtures.js';

const hasOpenssl = requireTools('openssl');

const host = (s: string): HostName => {
  const h = normalizeHost(s);
  if (h.kind === 'invalid') throw new Error(h.reason);
  return h;
};

async function newCa(opts: { keyType: 'rsa' | 'ec'; permit?: string[] }): Promise<LabCa> {
  return loadOrCreateCa({ dir: `${await tempDir()}/ca`, ...opts });
}

describe.skipIf(!hasOpenssl)('openssl verify -x509_strict accepts every minted leaf', () => {
  const leafKeys: Partial<Record<'rsa' | 'ec', LeafKey>> = {};
  const cas: Partial<Record<'rsa' | 'ec', LabCa>> = {};
  beforeAll(async () => {
    [cas.rsa, cas.ec, leafKeys.rsa, leafKeys.ec] = await Promise.all([
      newCa({ keyType: 'rsa' }),
      newCa({ keyType: 'ec' }),
      generateLeafKey('rsa'),
      generateLeafKey('ec'),
    ]);
  });

  // [label, names to mint, what openssl checks the leaf against]
  const cases: Array<[string, string[], { hostname?: string; ip?: string }]> = [
    ['DNS name', ['example.test'], { hostname: 'example.test' }],
    ['IPv4 address', ['127.0.0.1'], { ip: '127.0.0.1' }],
    ['IPv6 address', ['::1'], { ip: '::1' }],
    ['IDN', ['bücher.example'], { hostname: 'xn--bcher-kva.example' }],
    // The wildcard covers the underscore host; openssl's own host check refuses '_' under a wildcard, so the
    // chain is verified with a sibling name the wildcard also covers.
    ['underscore → wildcard', ['a_b.example.test'], { hostname: 'sibling.example.test' }],
    ['several names', ['www.example.test', 'example.test', '192.0.2.10', '2001:db8::10'], { hostname: 'example.test', ip: '2001:db8::10' }],
    ['a name longer than 64 characters (no CN)', [`${'l'.repeat(60)}.example.test`], { hostname: `${'l'.repeat(60)}.example.test` }],
  ];

  for (const caType of ['rsa', 'ec'] as const) {
    for (const leafType of ['rsa', 'ec'] as const) {
      it.each(cases)(`${caType.toUpperCase()} CA, ${leafType.toUpperCase()} leaf key: %s`, async (_label, names, check) => {
        const ca = cas[caType]!;
        const minted = mintLeaf(ca, leafKeys[leafType]!, names.map(host));
        const result = await opensslVerify(ca.certPath, minted.certPem, { strict: true, ...check });
        expect(result.output).toContain(': OK');
        expect(result.ok).toBe(true);
      });
    }
  }

  it('the CA itself passes, and openssl prints the same fingerprint', async () => {
    for (const ca of [cas.rsa!, cas.ec!]) {
      const result = await opensslVerify(ca.certPath, ca.certPem, { strict: true, sslServer: false });
      expect(result.ok).toBe(true);
      expect(await opensslFingerprint(ca.certPem)).toBe(ca.sha256Fingerprint);
    }
  });

  it('openssl reads the extensions and their criticality as intended', async () => {
    const ca = cas.rsa!;
    const caText = await opensslText(ca.certPem);
    expect(caText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(caText).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(caText).toContain('X509v3 Subject Key Identifier');
    const leafText = await opensslText(mintLeaf(ca, leafKeys.rsa!, [host('example.test')]).certPem);
    expect(leafText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(leafText).toMatch(/X509v3 Extended Key Usage: \s*TLS Web Server Authentication/);
    expect(leafText).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(leafText).toMatch(/X509v3 Subject Alternative Name: \s*DNS:example.test/);
    expect(leafText).toContain(`X509v3 Authority Key Identifier: \n                ${ca.skiHex.toUpperCase().match(/../g)!.join(':')}`);
    expect(leafText).not.toContain('Subject Key Identifier: ');
    expect(leafText).toContain('Signature Algorithm: sha256WithRSAEncryption');
  });

  it('a leaf fails for a name it does not carry (the oracle can say no)', async () => {
    const minted = mintLeaf(cas.ec!, leafKeys.ec!, [host('example.test')]);
    const result = await opensslVerify(cas.ec!.certPath, minted.certPem, { strict: true, hostname: 'other.test' });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('hostname mismatch');
  });

  it('a leaf fails against another CA', async () => {
    const minted = mintLeaf(cas.ec!, leafKeys.ec!, [host('example.test')]);
    const result = await opensslVerify(cas.rsa!.certPath, minted.certPem, { strict: true });
    expect(result.ok).toBe(false);
  });
});

describe.skipIf(!hasOpenssl)('a name-constrained lab CA (openssl verify)', () => {
  let constrained: LabCa;
  let dnsOnly: LabCa;
  let ipOnly: LabCa;
  let leafKey: LeafKey;
  beforeAll(async () => {
    [constrained, dnsOnly, ipOnly, leafKey] = await Promise.all([
      newCa({ keyType: 'ec', permit: ['lab.test', '10.0.0.0/8', 'fd00::/8'] }),
      newCa({ keyType: 'ec', permit: ['lab.test'] }),
      newCa({ keyType: 'ec', permit: ['127.0.0.0/8'] }),
      generateLeafKey('ec'),
    ]);
  });

  const verify = async (ca: LabCa, names: string[]): Promise<{ ok: boolean; output: string }> =>
    opensslVerify(ca.certPath, mintLeaf(ca, leafKey, names.map(host)).certPem, { strict: true });

  it.each([[['lab.test']], [['www.lab.test']], [['a.b.lab.test', '10.1.2.3']], [['fd00::1']], [['x_y.deep.lab.test']]])(
    'inside: %j passes',
    async (names) => {
      const result = await verify(constrained, names);
      expect(result.output).toContain(': OK');
      expect(result.ok).toBe(true);
    },
  );

  it.each([[['example.com']], [['evillab.test']], [['192.0.2.1']], [['::1']], [['www.lab.test', 'example.com']], [['lab.test', '11.0.0.1']]])(
    'outside: %j fails',
    async (names) => {
      const result = await verify(constrained, names);
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(/subtree violation/);
    },
  );

  it('a DNS-only permit also refuses every IP address', async () => {
    expect((await verify(dnsOnly, ['www.lab.test'])).ok).toBe(true);
    const ip = await verify(dnsOnly, ['127.0.0.1']);
    expect(ip.ok).toBe(false);
    expect(ip.output).toMatch(/subtree violation/);
  });

  it('an IP-only permit also refuses every DNS name', async () => {
    expect((await verify(ipOnly, ['127.0.0.1'])).ok).toBe(true);
    expect((await verify(ipOnly, ['localhost'])).ok).toBe(false);
    expect((await verify(ipOnly, ['example.com'])).ok).toBe(false);
  });
});
