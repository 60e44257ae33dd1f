// Origins that fail: bad certificates, unknown names, refused and silent ports. The browser gets a page that names
// the reason, and the proxy keeps serving.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';

const HOST = 'origin.test';
let pki: TestPki;
const origins: Record<string, Origin> = {};
let mitm: TestMitmlab;
let caPem: string;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST, '127.0.0.1'] });
  origins.expired = await startOrigin({ cert: pki.expired.certPem, key: pki.expired.keyPem });
  origins.wrongHost = await startOrigin({ cert: pki.wrongHost.certPem, key: pki.wrongHost.keyPem });
  origins.selfSigned = await startOrigin({ cert: pki.selfSigned.certPem, key: pki.selfSigned.keyPem });
  mitm = await startMitmlab({
    upstreamCa: [pki.rootPath],
    resolve: [`${HOST}:127.0.0.1`, `insecure.test:127.0.0.1`],
    upstreamInsecure: ['insecure.test'],
    handshakeTimeoutMs: 1_000,
  });
  caPem = await readFile(mitm.caPath, 'utf8');
});

afterAll(async () => {
  await mitm?.close();
  await Promise.all(Object.values(origins).map((o) => o.close()));
});

async function get(host: string, port: number, path = '/hello') {
  const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${host}:${port}`, servername: host, ca: caPem });
  try {
    return await requestOver(socket, path, `${host}:${port}`);
  } finally {
    socket.destroy();
  }
}

describe('untrusted origins are refused with the reason', () => {
  it.each([
    ['expired', 'expired'],
    ['wrongHost', 'name mismatch'],
    ['selfSigned', 'self-signed'],
  ])('%s → 502 naming "%s"', async (name, reason) => {
    const response = await get(HOST, origins[name]!.port);
    expect(response.status).toBe(502);
    expect(response.headers['x-mitmlab-error']).toContain(reason);
    expect(response.body).toContain(reason);
    const failed = await mitm.waitFor('tls-failed', (e) => e.leg === 'upstream' && e.message.includes(reason));
    expect(failed.cause).toBe('upstream-untrusted');
  });

  it('the expired origin\'s check list marks validity failed and the rest passed', async () => {
    await get(HOST, origins.expired!.port, '/hello?checks');
    const certs = await mitm.waitFor('tls-certificates', (e) => e.verification.checks.some((c) => c.check === 'validity' && !c.ok));
    const byName = Object.fromEntries(certs.verification.checks.map((c) => [c.check, c.ok]));
    expect(byName).toEqual({ validity: false, chain: true, name: true, signature: true });
    expect(certs.upstream[0]!.issuer).toContain('origin');
    expect(certs.forged[0]!.issuer).toContain('mitmlab');
  });

  it('the wrong-host origin keeps Node\'s name error code, and only its name check fails', async () => {
    await get(HOST, origins.wrongHost!.port, '/hello?name');
    const certs = await mitm.waitFor('tls-certificates', (e) => e.verification.checks.some((c) => c.check === 'name' && !c.ok));
    expect(certs.verification.errorCode).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(certs.verification.trusted).toBe(false);
    const byName = Object.fromEntries(certs.verification.checks.map((c) => [c.check, c.ok]));
    expect(byName).toEqual({ validity: true, chain: true, name: false, signature: true });
  });

  it('--upstream-insecure lets an expired origin through and flags it', async () => {
    const response = await get('insecure.test', origins.expired!.port);
    expect(response.status).toBe(200);
    expect(response.body).toBe('hello from origin\n');
    const certs = await mitm.waitFor('tls-certificates', (e) => e.host === 'insecure.test');
    expect(certs.insecureAllowed).toBe(true);
    expect(certs.verification.trusted).toBe(false);
    await mitm.waitFor('proxy-error', (e) => e.code === 'upstream-untrusted' && e.message.includes('the browser was not told'));
  });
});

describe('unreachable origins', () => {
  it('an unknown host → 502 naming the host', async () => {
    const response = await get('no-such-host.test', 443);
    expect(response.status).toBe(502);
    expect(response.body).toContain('no-such-host.test');
    const failed = await mitm.waitFor('tls-failed', (e) => e.leg === 'upstream' && e.cause === 'upstream-dns');
    expect(failed.message).toContain('no-such-host.test');
  });

  it('a refused port → 502', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const response = await get(HOST, port);
    expect(response.status).toBe(502);
    expect(response.headers['x-mitmlab-error']).toContain('Cannot reach');
  });

  it('an origin that never answers the TLS handshake → 504', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const response = await get(HOST, (silent.address() as net.AddressInfo).port);
      expect(response.status).toBe(504);
    } finally {
      silent.close();
    }
  });

  it('an origin that accepts the request but never answers → 504 after the idle timeout', async () => {
    const quiet = await startMitmlab({ idleTimeoutMs: 500 });
    const mute = net.createServer((socket) => socket.on('data', () => {}));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    try {
      const { rawExchange, statusOf } = await import('../helpers/raw-http.js');
      const port = (mute.address() as net.AddressInfo).port;
      const response = await rawExchange(quiet.proxyPort, `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(statusOf(response)).toBe(504);
      expect(response).toContain('did not answer in time');
    } finally {
      mute.close();
      await quiet.close();
    }
  });

  it('an HTTPS origin that never answers → 504 inside the intercepted connection', async () => {
    const quiet = await startMitmlab({ idleTimeoutMs: 500, upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
    const mute = tls.createServer({ cert: pki.valid.certPem, key: pki.valid.keyPem }, (socket) => socket.on('data', () => {}));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    try {
      const port = (mute.address() as net.AddressInfo).port;
      const socket = await tlsThroughProxy({ proxyPort: quiet.proxyPort, authority: `${HOST}:${port}`, servername: HOST, ca: await readFile(quiet.caPath, 'utf8') });
      const response = await requestOver(socket, '/', HOST);
      socket.destroy();
      expect(response.status).toBe(504);
    } finally {
      mute.close();
      await quiet.close();
    }
  });

  /** Serves `handler` on a loopback port for one request through mitmlab, and returns the answer and the failure. */
  async function failingOrigin(server: net.Server, path: string) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await get(HOST, (server.address() as net.AddressInfo).port, path);
      const conn = mitm.ofType('http-request').find((e) => e.url.endsWith(path))?.conn;
      const failed = await mitm.waitFor('tls-failed', (e) => e.leg === 'upstream' && (conn === undefined || e.conn === conn));
      return { response, failed };
    } finally {
      server.close();
    }
  }

  it('an origin that answers a ClientHello with plain HTTP is said not to speak TLS, not to lack a common version', async () => {
    const plain = net.createServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')));
    const { response, failed } = await failingOrigin(plain, '/hello?not-tls');
    expect(response.status).toBe(502);
    expect(failed.message).toMatch(/did not answer with TLS/);
    expect(response.body).toMatch(/did not answer with TLS/);
  });

  it('an origin that closes (FIN) during the handshake is said to have closed, not reset', async () => {
    const closing = net.createServer((socket) => socket.once('data', () => socket.end()));
    const { response, failed } = await failingOrigin(closing, '/hello?fin');
    expect(response.status).toBe(502);
    expect(failed.message).toMatch(/closed the connection in the middle of the TLS handshake/);
    expect(response.headers['x-mitmlab-error']).toMatch(/closed the connection/);
  });

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('an origin that requires a client certificate (%s) is explained', async (version) => {
    const strict = tls.createServer(
      { cert: pki.valid.certPem, key: pki.valid.keyPem, requestCert: true, rejectUnauthorized: true, ca: pki.valid.certPem, minVersion: version, maxVersion: version },
      (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
    );
    strict.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => strict.listen(0, '127.0.0.1', resolve));
    try {
      const path = `/hello?client-cert=${version}`;
      const response = await get(HOST, (strict.address() as net.AddressInfo).port, path);
      expect(response.status).toBe(502);
      expect(response.body).toMatch(/requires a client certificate/);
    } finally {
      strict.close();
    }
  });

  it('keeps serving after all of that', async () => {
    const good = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
    try {
      const response = await get(HOST, good.port);
      expect(response.status).toBe(200);
    } finally {
      await good.close();
    }
  });
});
