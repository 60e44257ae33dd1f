// Both legs of every intercepted connection become events, checked against what the real clients report.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { curl } from '../helpers/curl.js';
import { run } from '../helpers/run.js';
import { requireTools } from '../helpers/tools.js';
import type { EventOf } from '../../server/protocol/events.js';
import { requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';

const HOST = 'origin.test';
let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;
let keylogPath: string;
const haveTools = requireTools('curl', 'openssl');

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST, '127.0.0.1'] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  // Every connection makes its own origin handshake here (--no-origin-reuse): these tests read each one.
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], originReuse: false });
  keylogPath = path.join(mitm.dir, 'keys.log');
});

afterAll(async () => {
  await mitm?.close();
  await origin?.close();
});

/** The connection's events once both legs are established and the client leg's transcript is in. */
async function legsOf(conn: string) {
  await mitm.waitFor('tls-transcript', (e) => e.conn === conn && e.leg === 'client');
  const of = <T extends EventOf<'tls-established'>['type'] | 'tls-client-hello' | 'tls-server-hello' | 'tls-transcript'>(type: T) =>
    mitm.events.filter((e) => e.type === type && 'conn' in e && e.conn === conn) as Array<Extract<typeof mitm.events[number], { type: T }>>;
  const established = of('tls-established');
  return {
    client: established.find((e) => e.leg === 'client')!,
    upstream: established.find((e) => e.leg === 'upstream')!,
    hellos: of('tls-client-hello'),
    serverHellos: of('tls-server-hello'),
    transcripts: of('tls-transcript'),
  };
}

describe('complete events for both legs', () => {
  it.skipIf(!haveTools)('curl TLS 1.2: version and cipher match what curl reports', async () => {
    const result = await curl(`https://${HOST}:${origin.port}/hello?t=12`, {
      proxy: mitm.proxyUrl,
      cacert: mitm.caPath,
      extra: ['--tlsv1.2', '--tls-max', '1.2', '-v'],
    });
    expect(result.status).toBe(200);
    // curl -v: "* SSL connection using TLSv1.2 / ECDHE-RSA-AES256-GCM-SHA384"
    const [, version, opensslCipher] = /SSL connection using (TLSv[\d.]+) \/ (\S+)/.exec(result.stderr)!;
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('?t=12'));
    const legs = await legsOf(request.conn);
    expect(legs.client.version).toBe(version);
    const { cipherSuiteByOpenSslName, cipherSuiteName } = await import('../../server/tls/iana.js');
    expect(legs.client.cipher).toBe(cipherSuiteName(cipherSuiteByOpenSslName(opensslCipher!)!));
    expect(legs.upstream.version).toBe('TLSv1.3'); // mitmlab speaks its own TLS to the origin
    expect(legs.hellos.map((h) => h.leg).sort()).toEqual(['client', 'upstream']);
    expect(legs.serverHellos.map((h) => h.leg).sort()).toEqual(['client', 'upstream']);
    const ladder = legs.transcripts.find((t) => t.leg === 'client')!.steps.map((s) => s.label);
    expect(ladder).toEqual(expect.arrayContaining(['ClientHello', 'ServerHello', 'Certificate', 'ServerKeyExchange', 'ServerHelloDone', 'ClientKeyExchange', 'ChangeCipherSpec']));
  });

  it.skipIf(!haveTools)('curl TLS 1.3: version, cipher and ALPN', async () => {
    const result = await curl(`https://${HOST}:${origin.port}/hello?t=13`, { proxy: mitm.proxyUrl, cacert: mitm.caPath, extra: ['--tlsv1.3', '-v'] });
    expect(result.status).toBe(200);
    const [, version, cipher] = /SSL connection using (TLSv[\d.]+) \/ (\S+)/.exec(result.stderr)!;
    const alpn = /ALPN: server accepted (\S+)/.exec(result.stderr)?.[1] ?? /ALPN, server accepted to use (\S+)/.exec(result.stderr)?.[1];
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('?t=13'));
    const legs = await legsOf(request.conn);
    expect(legs.client).toMatchObject({ version, cipher, alpn, sni: HOST });
    expect(legs.client.group).toBeTruthy();
    expect(legs.upstream).toMatchObject({ version: 'TLSv1.3', alpn: 'http/1.1', sni: HOST });
    expect(legs.upstream.connectMs).toBeGreaterThanOrEqual(0);
    expect(legs.upstream.group).toBeTruthy();
    // Node reports shared signature algorithms on the server side of a handshake: here, the client leg.
    expect(legs.client.sharedSigalgs.length).toBeGreaterThan(0);
  });

  it.skipIf(!haveTools)('openssl s_client -noservername (IP, no SNI) and -alpn h2,http/1.1', async () => {
    const cases = [
      { args: ['-noservername'], sni: null, alpn: null },
      { args: ['-servername', HOST, '-alpn', 'h2,http/1.1'], sni: HOST, alpn: 'http/1.1' },
      // What curl --http1.0 offers; it was refused with no_application_protocol.
      { args: ['-servername', HOST, '-alpn', 'http/1.0'], sni: HOST, alpn: 'http/1.0' },
    ];
    for (const c of cases) {
      const before = mitm.ofType('tls-established').length;
      // -ign_eof: keep reading after stdin ends, until the server closes (Connection: close).
      const result = await run('openssl', ['s_client', '-ign_eof', '-connect', `127.0.0.1:${origin.port}`, '-proxy', `127.0.0.1:${mitm.proxyPort}`, '-CAfile', mitm.caPath, ...c.args], {
        input: `GET /hello HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
      });
      expect(result.stdout).toContain('hello from origin');
      // openssl prints "Protocol  : TLSv1.3", "Cipher    : TLS_AES_256_GCM_SHA384" and "ALPN protocol: http/1.1"
      const version = /Protocol\s*:\s*(\S+)/.exec(result.stdout)![1];
      const cipher = /Cipher\s*:\s*(\S+)/.exec(result.stdout)![1];
      const alpn = /ALPN protocol: (\S+)/.exec(result.stdout)?.[1] ?? null;
      expect(result.stdout).toContain('Verify return code: 0 (ok)');
      await mitm.waitFor('tls-established', () => mitm.ofType('tls-established').length >= before + 2);
      const client = mitm.ofType('tls-established').slice(before).find((e) => e.leg === 'client')!;
      expect(client).toMatchObject({ version, cipher, alpn, sni: c.sni });
      expect(alpn).toBe(c.alpn);
    }
  });
});

describe('failures on the client leg', () => {
  it.skipIf(!haveTools)('curl without the lab CA → cert-rejected, with a sentence naming the host', async () => {
    const result = await curl(`https://${HOST}:${origin.port}/hello?untrusted`, { proxy: mitm.proxyUrl });
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/certificate/i);
    const failed = await mitm.waitFor('tls-failed', (e) => e.leg === 'client');
    expect(failed.cause).toBe('cert-rejected');
    expect(failed.alert).toBe('unknown_ca');
    expect(failed.message).toContain(`The browser refused mitmlab's certificate for ${HOST}`);
    // The upstream connection opened for it is closed too, and its handshake recorded.
    const upstream = await mitm.waitFor('tls-transcript', (e) => e.conn === failed.conn && e.leg === 'upstream');
    expect(upstream.steps.map((s) => s.label)).toContain('ClientHello');
  });
});

describe('session resumption upstream', () => {
  it('a second connection to the same origin resumes, and still reports the chain and the four checks', async () => {
    const fresh = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], originReuse: false });
    try {
      const ca = await readFile(fresh.caPath, 'utf8');
      for (let i = 0; i < 2; i++) {
        const socket = await tlsThroughProxy({ proxyPort: fresh.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca });
        const response = await requestOver(socket, `/hello?resume=${i}`, HOST);
        expect(response.status, `${response.body} ${JSON.stringify(fresh.ofType('proxy-error'))} ${JSON.stringify(fresh.ofType('tls-failed'))}`).toBe(200);
        socket.destroy();
        // TLS 1.3 tickets come after the handshake: give the first one time to arrive.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const upstream = fresh.ofType('tls-established').filter((e) => e.leg === 'upstream');
      expect(upstream.map((e) => e.resumed)).toEqual([false, true]);
      const certs = fresh.ofType('tls-certificates');
      expect(certs).toHaveLength(2);
      expect(certs[1]!.upstream.map((c) => c.sha256)).toEqual(certs[0]!.upstream.map((c) => c.sha256));
      expect(certs[1]!.verification.trusted).toBe(true);
      // The resumed ladder has no Certificate from the origin: that is what resumption saves.
      const ladders = fresh.ofType('tls-transcript').filter((e) => e.leg === 'upstream');
      expect(ladders).toHaveLength(2);
    } finally {
      await fresh.close();
    }
  });
});

describe('session resumption with TLS 1.2', () => {
  it('a second connection to a TLS 1.2 origin resumes its session (it comes during the handshake, before the verdict)', async () => {
    const tls12 = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem, tlsOptions: { maxVersion: 'TLSv1.2' } });
    const fresh = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], originReuse: false });
    try {
      const ca = await readFile(fresh.caPath, 'utf8');
      for (let i = 0; i < 2; i++) {
        const socket = await tlsThroughProxy({ proxyPort: fresh.proxyPort, authority: `${HOST}:${tls12.port}`, servername: HOST, ca });
        expect((await requestOver(socket, `/hello?tls12=${i}`, HOST)).status).toBe(200);
        socket.destroy();
      }
      const upstream = fresh.ofType('tls-established').filter((e) => e.leg === 'upstream');
      expect(upstream.map((e) => [e.version, e.resumed])).toEqual([['TLSv1.2', false], ['TLSv1.2', true]]);
      expect(fresh.ofType('tls-certificates').map((e) => e.verification.trusted)).toEqual([true, true]);
    } finally {
      await fresh.close();
      await tls12.close();
    }
  });
});

describe('session resumption under another name', () => {
  it('a first connection to a name the certificate of a TLS 1.3 session covers resumes it, and is checked for its own name', async () => {
    const wildcard = await pki.issue({ names: ['*.sib.test'] });
    const sibOrigin = await startOrigin({ cert: wildcard.certPem, key: wildcard.keyPem });
    const names = ['a.sib.test', 'b.sib.test', 'other.test'];
    const fresh = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: names.map((n) => `${n}:127.0.0.1`), originReuse: false, upstreamInsecure: ['other.test'] });
    try {
      const ca = await readFile(fresh.caPath, 'utf8');
      for (const name of names) {
        const socket = await tlsThroughProxy({ proxyPort: fresh.proxyPort, authority: `${name}:${sibOrigin.port}`, servername: name, ca });
        expect((await requestOver(socket, '/hello', name)).status).toBe(200);
        socket.destroy();
        // TLS 1.3 tickets come after the handshake: give the first one time to arrive.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const upstreamOf = (name: string) => fresh.ofType('tls-established').find((e) => e.leg === 'upstream' && e.sni === name)!;
      expect(upstreamOf('a.sib.test').resumed).toBe(false);
      // b.sib.test was never seen, but a.sib.test's certificate covers it (RFC 8446 §4.6.1).
      expect(upstreamOf('b.sib.test').resumed).toBe(true);
      const certsOf = (name: string) => fresh.ofType('tls-certificates').find((e) => e.host === name)!;
      expect(certsOf('b.sib.test').verification.trusted).toBe(true);
      const name = certsOf('b.sib.test').verification.checks.find((c) => c.check === 'name')!;
      expect(name.reason).toContain('b.sib.test');
      // Not covered: a full handshake, whose certificate is then found not to match (let through by --upstream-insecure).
      expect(upstreamOf('other.test').resumed).toBe(false);
      expect(certsOf('other.test').verification.trusted).toBe(false);
    } finally {
      await fresh.close();
      await sibOrigin.close();
    }
  });
});

describe('closed right after the handshake', () => {
  it('a client that handshakes and leaves without a request is reported (likely silent rejection)', async () => {
    const lone = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`lone.test:127.0.0.1`] });
    try {
      const socket = await tlsThroughProxy({ proxyPort: lone.proxyPort, authority: `lone.test:${origin.port}`, servername: 'lone.test', ca: await readFile(lone.caPath, 'utf8') });
      socket.end();
      const failed = await lone.waitFor('tls-failed', (e) => e.leg === 'client');
      expect(failed.cause).toBe('closed-after-handshake');
      expect(failed.message).toContain('lone.test');
    } finally {
      await lone.close();
    }
  });

  it('a spare connection whose sibling carried requests is not reported (Chromium preconnects two)', async () => {
    const ca = await readFile(mitm.caPath, 'utf8');
    const used = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca });
    const spare = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca });
    expect((await requestOver(used, '/hello?sibling', HOST)).status).toBe(200);
    const spareConn = mitm.ofType('tls-established').at(-1)!.conn;
    spare.end();
    await mitm.waitFor('tls-transcript', (e) => e.conn === spareConn && e.leg === 'client');
    await mitm.bus.flushed();
    expect(mitm.ofType('tls-failed').filter((e) => e.conn === spareConn)).toEqual([]);
  });
});

describe('key log', () => {
  it.skipIf(!haveTools)('--keylog appends NSS lines for both legs, tied to the client_random', async () => {
    const logged = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], keylog: keylogPath });
    try {
      const result = await curl(`https://${HOST}:${origin.port}/hello?k`, { proxy: logged.proxyUrl, cacert: logged.caPath });
      expect(result.status).toBe(200);
      const request = await logged.waitFor('http-request');
      await logged.waitFor('tls-transcript', (e) => e.conn === request.conn && e.leg === 'client');
      await logged.bus.flushed();
      const lines = (await readFile(keylogPath, 'utf8')).trim().split('\n');
      const randoms = new Set(lines.map((l) => l.split(' ')[1]));
      const hellos = logged.ofType('tls-client-hello').filter((h) => h.conn === request.conn);
      expect(hellos).toHaveLength(2);
      for (const hello of hellos) expect(randoms.has(hello.hello.random)).toBe(true);
      const nss = /^(CLIENT_RANDOM|CLIENT_HANDSHAKE_TRAFFIC_SECRET|SERVER_HANDSHAKE_TRAFFIC_SECRET|CLIENT_TRAFFIC_SECRET_0|SERVER_TRAFFIC_SECRET_0|EXPORTER_SECRET) [0-9a-f]{64} [0-9a-f]+$/;
      expect(lines.filter((l) => !nss.test(l))).toEqual([]);
    } finally {
      await logged.close();
    }
  });
});

describe('a refused certificate is on record with both chains', () => {
  it.skipIf(!haveTools)('also when the forged certificate was predicted and the browser refused it before the origin answered', async () => {
    const fresh = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], originReuse: false });
    // A slow origin: its bytes reach mitmlab 400 ms late, so the browser's refusal comes first.
    const slow = net.createServer((inbound) => {
      const outbound = net.connect(origin.port, '127.0.0.1');
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.pipe(outbound);
      outbound.on('data', (chunk: Buffer) => setTimeout(() => inbound.writable && inbound.write(chunk), 400));
      outbound.on('end', () => setTimeout(() => inbound.end(), 450));
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowPort = (slow.address() as net.AddressInfo).port;
    try {
      // The first refusal waits for the origin's names; the second is served a certificate predicted from them at
      // once, and refuses it while the origin's handshake is still under way.
      for (let i = 0; i < 2; i++) {
        const result = await curl(`https://${HOST}:${slowPort}/hello?refused=${i}`, { proxy: fresh.proxyUrl });
        expect(result.status).toBe(0);
        await fresh.waitFor('tls-failed', () => fresh.ofType('tls-failed').filter((e) => e.leg === 'client' && e.cause === 'cert-rejected').length > i);
      }
      const refusals = fresh.ofType('tls-failed').filter((e) => e.leg === 'client');
      for (const refusal of refusals) {
        const certs = await fresh.waitFor('tls-certificates', (e) => e.conn === refusal.conn);
        expect(certs.forged.length).toBe(2);
        expect(certs.upstream.length).toBeGreaterThan(0);
      }
    } finally {
      await fresh.close();
      slow.close();
    }
  });
});

// Last: waitFor in the tests above takes the first client-leg failure on record.
describe('ALPN on the client leg', () => {
  it.skipIf(!haveTools)('a client that offers only h2 is refused with a reason naming what it offered', async () => {
    await run('openssl', ['s_client', '-connect', `127.0.0.1:${origin.port}`, '-proxy', `127.0.0.1:${mitm.proxyPort}`, '-servername', HOST, '-alpn', 'h2'], { input: '' });
    const failed = await mitm.waitFor('tls-failed', (e) => e.leg === 'client' && e.message.includes('ALPN'));
    expect(failed.alert).toBe('no_application_protocol');
    expect(failed.message).toBe(
      `The client offered only application protocols mitmlab does not speak for ${HOST} (ALPN "h2"; mitmlab speaks http/1.1 and http/1.0 on this leg), so the handshake ended with no_application_protocol (RFC 7301 §3.2).`,
    );
  });
});
