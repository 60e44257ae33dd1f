// The product's core promise, end to end in Debian's Chromium (headless, DESIGN.md §5 flags, fresh profile) through
// a real mitmlab to a real HTTPS origin on loopback, named `origin.test` through --resolve (Chromium sends
// CONNECT origin.test:PORT and never resolves the name itself; the name is not loopback, so no implicit bypass):
// - without the lab CA the browser refuses, and mitmlab says why (client-leg tls-failed, cause cert-rejected);
// - with the lab CA trusted for this profile only (--ignore-certificate-errors-spki-list), the page loads and both
//   legs' handshakes, both chains and the plaintext — a login form's password included — are recorded.
// Chromium's ClientHello, live through the proxy, is cross-checked against read-tls-client-hello (issue 3: JA3/JA4
// "on hellos from … Chromium headless").
// Screenshots and the measured handshake facts go to test-results/chromium-trust/ (gitignored).

import { X509Certificate } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isGREASE } from 'read-tls-client-hello';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { oracleHello } from '../helpers/chromium-trust-hello.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { requireTools } from '../helpers/tools.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const results = path.join(repo, 'test-results', 'chromium-trust');
const HOST = 'origin.test';
// X25519MLKEM768 (IANA TLS Supported Groups 4588, draft-ietf-tls-ecdhe-mlkem): ML-KEM-768 encapsulation key
// (1184 bytes) followed by the X25519 share (32 bytes) in the client's key_share.
const X25519MLKEM768 = 0x11ec;
const X25519MLKEM768_SHARE = 1184 + 32;
const haveChromium = requireTools('chromium');

let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;
let base: string;
/** What this run observed, written next to the screenshots for whoever reads the report. */
const measured: Record<string, unknown> = {};

describe.skipIf(!haveChromium)('Chromium and the lab CA, end to end', () => {
  beforeAll(async () => {
    await mkdir(results, { recursive: true });
    pki = await createTestPki({ names: [HOST] });
    origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
    mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
    base = `https://${HOST}:${origin.port}`;
  }, 60_000);

  afterAll(async () => {
    // Everything the two browsers asked the proxy for, including Chromium's own background traffic.
    measured.connects = mitm?.ofType('connect').map((e) => `${e.host}:${e.port}`);
    measured.requests = mitm?.ofType('http-request').map((e) => `${e.method} ${e.url}`);
    measured.failures = mitm?.ofType('tls-failed').map((e) => `${e.conn} ${e.leg} ${e.host} ${e.cause} ${e.alert} | ${e.message}`);
    await writeFile(path.join(results, 'measured.json'), JSON.stringify(measured, null, 2) + '\n').catch(() => undefined);
    await mitm?.close();
    await origin?.close();
    await pki?.dispose();
  });

  describe('without the lab CA', () => {
    let chrome: RunningChromium;
    beforeAll(async () => {
      chrome = await launchChromium({ proxy: mitm.proxyUrl });
    }, 60_000);
    afterAll(async () => {
      await chrome?.close();
    });

    it('refuses the forged certificate, and mitmlab says the browser rejected it for origin.test', async () => {
      const error = await chrome.page.goto(`${base}/hello`).then(
        () => null,
        (e: Error) => e,
      );
      expect(error, 'the navigation must fail').not.toBeNull();
      // The lab CA is unknown to this profile: Chromium's net error for an untrusted issuer.
      expect(error!.message).toMatch(/net::ERR_CERT_AUTHORITY_INVALID/);
      // The interstitial commits after goto() has rejected: wait for it before the screenshot (capturing while it
      // commits fails with "Unable to capture screenshot").
      await chrome.page.getByText('NET::ERR_CERT_AUTHORITY_INVALID').waitFor();
      expect(await chrome.page.textContent('body')).toContain(HOST);
      await chrome.page.screenshot({ path: path.join(results, 'untrusted.png') });

      const failed = await mitm.waitFor('tls-failed', (e) => e.leg === 'client' && e.host === HOST);
      expect(failed.cause).toBe('cert-rejected');
      expect(failed.message).toContain(HOST);
      expect(failed.message).toMatch(/refused mitmlab's certificate/);

      // What Chromium did on the wire: it read our whole flight (ServerHello … Finished), then refused it.
      const transcript = await mitm.waitFor('tls-transcript', (e) => e.conn === failed.conn && e.leg === 'client');
      const steps = transcript.steps.map((s) => `${s.direction} ${s.label} ${s.length}`);
      expect(steps[0]).toMatch(/^in ClientHello /);
      expect(steps.some((s) => s.startsWith('out ServerHello'))).toBe(true);
      // An alert named by the failure came from the browser; with none, the browser closed without one (the
      // transcript then holds no alert from it). In TLS 1.3 the alert is encrypted after the browser's
      // ChangeCipherSpec (RFC 8446 §5, appendix D.4), so the transcript sees "Alert (encrypted)" and the name comes
      // from OpenSSL, which decrypted it.
      const alertsIn = transcript.steps.filter((s) => s.direction === 'in' && s.label.startsWith('Alert'));
      if (failed.alert === null) expect(alertsIn).toEqual([]);
      else expect(alertsIn).toHaveLength(1);

      // The browser never sent a request: nothing was decrypted.
      expect(mitm.ofType('http-request').filter((e) => e.url.startsWith(base))).toEqual([]);
      expect(origin.seen).toEqual([]);

      measured.untrusted = {
        navigationError: error!.message.split('\n')[0],
        transcript: steps,
      };
    });
  });

  describe('with the lab CA trusted for this profile', () => {
    let chrome: RunningChromium;
    /** Events before this index belong to the untrusted browser. */
    let firstEvent = 0;
    beforeAll(async () => {
      firstEvent = mitm.events.length;
      chrome = await launchChromium({ proxy: mitm.proxyUrl, trustSpki: [mitm.ca.spkiSha256Base64] });
    }, 60_000);
    afterAll(async () => {
      await chrome?.close();
    });

    it('loads the page, and records both legs and both chains', async () => {
      const response = await chrome.page.goto(`${base}/hello`);
      expect(response?.status()).toBe(200);
      expect(await chrome.page.textContent('body')).toContain('hello from origin');
      await chrome.page.screenshot({ path: path.join(results, 'trusted.png') });

      const request = await mitm.waitFor('http-request', (e) => e.url === `${base}/hello`);
      const conn = request.conn;
      const client = await mitm.waitFor('tls-established', (e) => e.conn === conn && e.leg === 'client');
      // The origin handshake is this connection's, or an earlier one's whose idle origin connection it reused.
      const reused = mitm.ofType('upstream-reused').find((e) => e.conn === conn);
      const upstream = await mitm.waitFor('tls-established', (e) => e.conn === (reused?.from ?? conn) && e.leg === 'upstream');
      expect(client).toMatchObject({ sni: HOST, version: 'TLSv1.3', alpn: 'http/1.1' });
      expect(client.cipher).toMatch(/^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/);
      expect(upstream).toMatchObject({ sni: HOST, version: 'TLSv1.3' });
      expect(mitm.ofType('tls-failed').filter((e) => e.conn === conn)).toEqual([]);
      // This profile accepted every forged certificate for the origin.
      const rejected = mitm.events.slice(firstEvent).filter((e) => e.type === 'tls-failed' && e.leg === 'client' && e.cause === 'cert-rejected');
      expect(rejected).toEqual([]);

      // The forged chain is the lab CA's work, the upstream chain the origin root's: checked with node:crypto, not
      // with what mitmlab says about them.
      const certs = await mitm.waitFor('tls-certificates', (e) => e.conn === conn);
      expect(certs.host).toBe(HOST);
      const forgedLeaf = new X509Certificate(certs.forged[0]!.pem);
      const upstreamLeaf = new X509Certificate(certs.upstream[0]!.pem);
      const root = new X509Certificate(pki.rootPem);
      expect(forgedLeaf.checkIssued(mitm.ca.cert)).toBe(true);
      expect(forgedLeaf.verify(mitm.ca.cert.publicKey)).toBe(true);
      expect(forgedLeaf.checkHost(HOST)).toBe(HOST);
      expect(upstreamLeaf.checkIssued(root)).toBe(true);
      expect(upstreamLeaf.verify(root.publicKey)).toBe(true);
      expect(upstreamLeaf.fingerprint256).toBe(new X509Certificate(pki.valid.certPem).fingerprint256);
      expect(certs.forged[0]!.issuer).toBe(mitm.ca.subject);
      expect(certs.upstream[0]!.issuer).toContain('mitmlab test origin root');
      expect(certs.forged[0]!.sha256).not.toBe(certs.upstream[0]!.sha256);
      expect(certs.verification.trusted).toBe(true);
      expect(certs.verification.checks.map((c) => [c.check, c.ok])).toEqual([
        ['validity', true],
        ['chain', true],
        ['name', true],
        ['signature', true],
      ]);

      measured.trusted = {
        client: { version: client.version, cipher: client.cipher, group: client.group, alpn: client.alpn, sharedSigalgs: client.sharedSigalgs.length },
        upstream: { version: upstream.version, cipher: upstream.cipher, group: upstream.group, alpn: upstream.alpn },
        forgedIssuer: certs.forged[0]!.issuer,
        upstreamIssuer: certs.upstream[0]!.issuer,
      };
    });

    it("records Chromium's ClientHello with X25519MLKEM768 and GREASE, and JA3/JA4 equal read-tls-client-hello's", async () => {
      const request = await mitm.waitFor('http-request', (e) => e.url === `${base}/hello`);
      const event = await mitm.waitFor('tls-client-hello', (e) => e.conn === request.conn && e.leg === 'client');
      const hello = event.hello;
      expect(hello.serverName).toBe(HOST);

      // Post-quantum hybrid key exchange offered first and with a key share of the hybrid's size.
      expect(hello.supportedGroups).toContain(X25519MLKEM768);
      expect(hello.keyShares).toContainEqual({ group: X25519MLKEM768, keyLength: X25519MLKEM768_SHARE });
      // GREASE (RFC 8701) in cipher suites, extensions, groups and versions; Chromium's GREASE key share is 1 byte.
      expect(hello.cipherSuites.some(isGREASE)).toBe(true);
      expect(hello.extensions.filter((e) => e.grease).length).toBeGreaterThanOrEqual(2);
      expect(hello.extensions.filter((e) => e.grease).every((e) => isGREASE(e.type))).toBe(true);
      expect(hello.supportedGroups.some(isGREASE)).toBe(true);
      expect(hello.supportedVersions.some(isGREASE)).toBe(true);

      // The oracle parses the very bytes mitmlab parsed.
      const oracle = await oracleHello(event.raw, hello.recordVersion);
      expect(oracle.message.cipherSuites).toEqual(hello.cipherSuites);
      expect(oracle.message.extensions.map((e) => e.id)).toEqual(hello.extensions.map((e) => e.type));
      const theirShares = oracle.message.extensions.find((e) => e.id === 51)?.data as { entries: { group: number; keyExchangeLength: number }[] } | undefined;
      expect(theirShares?.entries.map((e) => ({ group: e.group, keyLength: e.keyExchangeLength }))).toEqual(hello.keyShares);
      const theirGroups = oracle.message.extensions.find((e) => e.id === 10)?.data as { groups: number[] } | undefined;
      expect(theirGroups?.groups).toEqual(hello.supportedGroups);
      expect(event.fingerprints.ja3Hash).toBe(oracle.ja3Hash);
      expect(event.fingerprints.ja4).toBe(oracle.ja4);
      // JA3 and JA4 drop GREASE; the hybrid group stays (it is not GREASE).
      expect(event.fingerprints.ja3.split(',')[3]!.split('-')).toContain(String(X25519MLKEM768));
      expect(event.fingerprints.ja4).toMatch(/^t13d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$/);

      measured.clientHello = {
        recordVersion: hello.recordVersion,
        cipherSuites: hello.cipherSuites,
        extensions: hello.extensions.map((e) => e.type),
        supportedGroups: hello.supportedGroups,
        keyShares: hello.keyShares,
        alpn: hello.alpn,
        bytes: Buffer.from(event.raw, 'base64').length,
        ja3: event.fingerprints.ja3,
        ja3Hash: event.fingerprints.ja3Hash,
        ja4: event.fingerprints.ja4,
      };
    });

    it('shows the password a login form POSTs, in plaintext', async () => {
      // The form lives on the origin's page, so the POST is a same-origin navigation through the proxy.
      await chrome.page.goto(`${base}/hello`);
      await chrome.page.setContent(
        `<form method="post" action="${base}/login">` +
          '<input name="user" value="alice"><input name="password" type="password" value="hunter2"><button>Log in</button></form>',
      );
      await chrome.page.screenshot({ path: path.join(results, 'login-form.png') });
      const [response] = await Promise.all([chrome.page.waitForResponse(`${base}/login`), chrome.page.click('button')]);
      expect(response.status()).toBe(200);
      await chrome.page.waitForURL(`${base}/login`);
      expect(await chrome.page.textContent('body')).toContain('welcome');
      await chrome.page.screenshot({ path: path.join(results, 'login.png') });

      const request = await mitm.waitFor('http-request', (e) => e.method === 'POST' && e.url === `${base}/login`);
      const found = await mitm.waitFor('secrets-found', (e) => e.id === request.id && e.secrets.some((s) => s.location === 'request-body'));
      expect(found.secrets).toContainEqual({ kind: 'form-field', name: 'password', value: 'hunter2', location: 'request-body' });
      expect(request.body).not.toBeNull();
      const body = await mitm.ctx.blobs.get(request.body!.sha256);
      expect(body?.toString('utf8')).toContain('password=hunter2');
      expect(body?.toString('utf8')).toContain('user=alice');
      // The origin got the same body: mitmlab read it on the way, it did not stop it.
      expect(origin.seen.filter((r) => r.method === 'POST' && r.url === '/login')).toHaveLength(1);

      measured.login = {
        requestBody: body?.toString('utf8'),
        secrets: mitm.ofType('secrets-found').flatMap((e) => e.secrets.map((s) => `${s.location} ${s.kind} ${s.name}`)),
      };
    });
  });
});
