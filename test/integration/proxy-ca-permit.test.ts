// A lab CA limited with --ca-permit (RFC 5280 §4.2.1.10 NameConstraints). Forged leaves copy the origin's SANs, and
// one copied name outside the permit would make the whole leaf invalid: those names are left out. A host outside
// the permit is refused by the client, and the failure says that, not "it does not trust the lab CA".
// openssl s_client is the client and `openssl verify -x509_strict` the oracle.

import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { opensslVerify } from '../helpers/openssl.js';
import { run } from '../helpers/run.js';
import { requireTools } from '../helpers/tools.js';

const INSIDE = 'www.lab.test';
const OUTSIDE = 'origin.test';
const haveTools = requireTools('openssl');
let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;

beforeAll(async () => {
  // The origin's certificate also names an IP and a host the CA may not vouch for.
  pki = await createTestPki({ names: [INSIDE, OUTSIDE, '127.0.0.1'] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${INSIDE}:127.0.0.1`, `${OUTSIDE}:127.0.0.1`], caPermit: ['lab.test'] });
});

afterAll(async () => {
  await mitm?.close();
  await origin?.close();
});

function sClient(host: string): Promise<{ stdout: string; stderr: string }> {
  return run('openssl', ['s_client', '-ign_eof', '-verify_return_error', '-verify_hostname', host, '-connect', `${host}:${origin.port}`, '-servername', host, '-proxy', `127.0.0.1:${mitm.proxyPort}`, '-CAfile', mitm.caPath], {
    input: `GET /hello HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  });
}

describe.skipIf(!haveTools)('a lab CA limited with --ca-permit lab.test', () => {
  it('a permitted host gets a leaf without the origin names the CA may not vouch for, and it verifies', async () => {
    const result = await sClient(INSIDE);
    expect(result.stdout).toContain('Verify return code: 0 (ok)');
    expect(result.stdout).toContain('hello from origin');
    const shown = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(result.stdout)![0]);
    expect(shown.subjectAltName).toBe(`DNS:${INSIDE}`);
    const verified = await opensslVerify(mitm.caPath, shown.toString(), { hostname: INSIDE });
    expect(verified.ok, verified.output).toBe(true);
  });

  it('a host outside the permit is refused, and the failure names --ca-permit as the reason', async () => {
    const result = await sClient(OUTSIDE);
    expect(result.stdout).not.toContain('hello from origin');
    const failed = await mitm.waitFor('tls-failed', (e) => e.leg === 'client' && e.host === OUTSIDE);
    expect(failed.cause).toBe('cert-rejected');
    expect(failed.message).toContain('the lab CA may only vouch for names under lab.test, no IP addresses (its --ca-permit)');
    expect(failed.message).toContain(`${OUTSIDE} is outside that`);
    expect(failed.message).not.toContain('does not trust the lab CA');
  });
});
