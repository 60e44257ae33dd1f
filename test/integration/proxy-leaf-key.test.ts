// The leaf key each client gets (--leaf-key auto, the default): EC P-256 when its hello says it can take one, RSA
// otherwise. openssl s_client is the oracle: it prints the certificate it was given, and must verify it against the
// lab CA; mitmlab's tls-certificates event must name that same certificate.

import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { opensslVerify } from '../helpers/openssl.js';
import { run } from '../helpers/run.js';
import { requireTools } from '../helpers/tools.js';

const HOST = 'origin.test';
const haveTools = requireTools('openssl');
let pki: TestPki;
let origin: Origin;
let auto: TestMitmlab;
let rsaOnly: TestMitmlab;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  [auto, rsaOnly] = await Promise.all([
    startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] }),
    startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], leafKey: 'rsa' }),
  ]);
});

afterAll(async () => {
  await Promise.all([auto?.close(), rsaOnly?.close()]);
  await origin?.close();
});

/** One GET through `mitm` with openssl s_client and extra flags; the leaf it was shown and mitmlab's record of it. */
async function fetchWith(mitm: TestMitmlab, flags: string[]): Promise<{ shown: X509Certificate; recorded: { sha256: string; keyType: string } }> {
  const before = mitm.ofType('tls-certificates').length;
  const result = await run('openssl', ['s_client', '-ign_eof', '-connect', `${HOST}:${origin.port}`, '-servername', HOST, '-proxy', `127.0.0.1:${mitm.proxyPort}`, '-CAfile', mitm.caPath, ...flags], {
    input: `GET /hello HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
  });
  expect(result.stdout).toContain('hello from origin');
  expect(result.stdout).toContain('Verify return code: 0 (ok)');
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(result.stdout)![0];
  await mitm.waitFor('tls-certificates', () => mitm.ofType('tls-certificates').length > before);
  const forged = mitm.ofType('tls-certificates').at(-1)!.forged[0]!;
  return { shown: new X509Certificate(pem), recorded: forged };
}

describe.skipIf(!haveTools)('--leaf-key auto', () => {
  const cases = [
    { label: 'TLS 1.3 with every signature algorithm (as browsers, curl and Node offer)', flags: [], key: 'ec' },
    { label: 'TLS 1.3 with RSA-PSS signatures only', flags: ['-sigalgs', 'rsa_pss_rsae_sha256:rsa_pss_rsae_sha384'], key: 'rsa' },
    { label: 'TLS 1.2 with ECDHE_RSA suites only', flags: ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384'], key: 'rsa' },
    { label: 'TLS 1.2 with an ECDHE_ECDSA suite', flags: ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256'], key: 'ec' },
  ] as const;
  for (const c of cases) {
    it(`${c.label}: ${c.key === 'ec' ? 'EC P-256' : 'RSA'}, and the event names the certificate openssl was shown`, async () => {
      const { shown, recorded } = await fetchWith(auto, [...c.flags]);
      expect(shown.publicKey.asymmetricKeyType).toBe(c.key);
      expect(recorded.sha256).toBe(shown.fingerprint256);
      expect(recorded.keyType).toMatch(c.key === 'ec' ? /^EC P-256/ : /^RSA/);
      const verified = await opensslVerify(auto.caPath, shown.toString(), { hostname: HOST });
      expect(verified.ok, verified.output).toBe(true);
    });
  }

  it('--leaf-key rsa gives every client the RSA certificate', async () => {
    const { shown, recorded } = await fetchWith(rsaOnly, []);
    expect(shown.publicKey.asymmetricKeyType).toBe('rsa');
    expect(recorded.sha256).toBe(shown.fingerprint256);
  });
});

describe.skipIf(!haveTools)('--leaf-key auto when mitmlab stops at TLS 1.2 (as under NODE_OPTIONS=--tls-max-v1.2)', () => {
  let capped: TestMitmlab;
  const defaultMax = tls.DEFAULT_MAX_VERSION;
  beforeAll(async () => {
    // Read when each context is made: a fresh mitmlab mints its contexts under the lowered default.
    tls.DEFAULT_MAX_VERSION = 'TLSv1.2';
    capped = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
  });
  afterAll(async () => {
    tls.DEFAULT_MAX_VERSION = defaultMax;
    await capped?.close();
  });

  it('a TLS 1.3 client offering only ECDHE_RSA suites for TLS 1.2 gets RSA, and one offering ECDSA suites gets EC', async () => {
    const rsa = await fetchWith(capped, ['-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    expect(rsa.shown.publicKey.asymmetricKeyType).toBe('rsa');
    expect(rsa.recorded.sha256).toBe(rsa.shown.fingerprint256);
    const ec = await fetchWith(capped, []);
    expect(ec.shown.publicKey.asymmetricKeyType).toBe('ec');
  });
});
