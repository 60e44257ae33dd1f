// HTTPS through mitmlab with real clients (curl, Node) against a real TLS origin on loopback.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import http from 'node:http';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { curl } from '../helpers/curl.js';
import { requireTools } from '../helpers/tools.js';
import type { ProxyEvent } from '../../server/protocol/events.js';
import { connectTunnel, requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';

const HOST = 'origin.test';
let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;
let caPem: string;
const haveCurl = requireTools('curl');

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST, '127.0.0.1'] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
  caPem = await readFile(mitm.caPath, 'utf8');
});

afterAll(async () => {
  await mitm?.close();
  await origin?.close();
});

const url = (path: string) => `https://${HOST}:${origin.port}${path}`;

describe('HTTPS through CONNECT', () => {
  it.skipIf(!haveCurl)('curl GET returns the origin body and both legs are recorded', async () => {
    const result = await curl(url('/hello'), { proxy: mitm.proxyUrl, cacert: mitm.caPath });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(200);
    expect(result.body).toBe('hello from origin\n');
    const response = await mitm.waitFor('http-response', (e) => e.status === 200);
    const request = mitm.ofType('http-request').find((e) => e.id === response.id)!;
    expect(request.url).toBe(url('/hello'));
    expect(request.method).toBe('GET');
    const legs = mitm.ofType('tls-established').filter((e) => e.conn === response.conn).map((e) => e.leg);
    expect(legs).toEqual(expect.arrayContaining(['client', 'upstream']));
  });

  it.skipIf(!haveCurl)('curl POST streams the body to the origin and captures it', async () => {
    const result = await curl(url('/echo'), { proxy: mitm.proxyUrl, cacert: mitm.caPath, extra: ['-d', 'user=alice&password=hunter2'] });
    expect(result.status).toBe(200);
    const echoed = JSON.parse(result.body) as { method: string; length: number; body: string };
    expect(echoed).toMatchObject({ method: 'POST', length: 27, body: 'user=alice&password=hunter2' });
    const request = await mitm.waitFor('http-request', (e) => e.method === 'POST' && e.url.endsWith('/echo'));
    expect(request.body).toMatchObject({ size: 27, wireSize: 27, truncated: false });
    const stored = await mitm.ctx.blobs.get(request.body!.sha256);
    expect(stored?.toString()).toBe('user=alice&password=hunter2');
    const secrets = await mitm.waitFor('secrets-found', (e) => e.id === request.id);
    expect(secrets.secrets.map((s) => s.name)).toContain('password');
  });

  it('a Node client gets the origin body, and the forged certificate chains to the lab CA', async () => {
    const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca: caPem });
    expect(socket.authorized).toBe(true);
    const cert = socket.getPeerX509Certificate()!;
    expect(cert.subjectAltName).toContain(`DNS:${HOST}`);
    expect(cert.issuer).toContain('mitmlab');
    const response = await requestOver(socket, '/hello', `${HOST}:${origin.port}`);
    expect(response.status).toBe(200);
    expect(response.body).toBe('hello from origin\n');
    socket.destroy();
  });

  it('keeps the client connection alive across requests', async () => {
    const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca: caPem });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agent.createConnection = () => socket;
    for (let i = 0; i < 3; i++) {
      const response = await requestOver(socket, `/hello?i=${i}`, `${HOST}:${origin.port}`, { agent });
      expect(response.status).toBe(200);
    }
    const ids = mitm.ofType('http-request').filter((e) => e.url.includes('/hello?i=')).map((e) => e.id);
    const conns = new Set(ids.map((id) => id.split('.')[0]));
    expect(conns.size).toBe(1); // one browser connection, three flows…
    const conn = [...conns][0];
    // …served by one upstream connection: opened for it, or left idle by an earlier test's connection (origin-pool.ts).
    const upstreamHandshakes = mitm.ofType('tls-established').filter((e) => e.conn === conn && e.leg === 'upstream');
    const reused = mitm.ofType('upstream-reused').filter((e) => e.conn === conn);
    expect(upstreamHandshakes.length + reused.length).toBe(1);
    const ports = new Set(origin.seen.filter((r) => r.url.startsWith('/hello?i=')).map((r) => r.clientPort));
    expect(ports.size).toBe(1);
    const timings = mitm.ofType('http-response').filter((e) => ids.includes(e.id)).map((e) => e.timings.connect);
    expect(timings).toEqual([-1, -1, -1]);
    agent.destroy();
  });

  it.skipIf(!haveCurl)('a TLS 1.2-only client negotiates TLS 1.2 on the client leg', async () => {
    const result = await curl(url('/hello?v=12'), { proxy: mitm.proxyUrl, cacert: mitm.caPath, extra: ['--tlsv1.2', '--tls-max', '1.2', '-w', '%{ssl_version}'] });
    expect(result.status).toBe(200);
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('?v=12'));
    const client = mitm.ofType('tls-established').find((e) => e.conn === request.conn && e.leg === 'client')!;
    expect(client.version).toBe('TLSv1.2');
    expect(client.cipher).toMatch(/^TLS_ECDHE_/);
  });

  it.skipIf(!haveCurl)('a TLS 1.3 client negotiates TLS 1.3', async () => {
    const result = await curl(url('/hello?v=13'), { proxy: mitm.proxyUrl, cacert: mitm.caPath, extra: ['--tlsv1.3'] });
    expect(result.status).toBe(200);
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('?v=13'));
    const client = mitm.ofType('tls-established').find((e) => e.conn === request.conn && e.leg === 'client')!;
    expect(client.version).toBe('TLSv1.3');
    expect(client.cipher).toMatch(/^TLS_(AES|CHACHA)/);
  });

  it('CONNECT to an IP literal without SNI gets a certificate with that IP as SAN', async () => {
    const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `127.0.0.1:${origin.port}`, ca: caPem, servername: '', host: '127.0.0.1' });
    const hello = await mitm.waitFor('tls-client-hello', (e) => e.leg === 'client' && e.hello.serverName === null);
    expect(hello.hello.extensions.some((x) => x.type === 0)).toBe(false);
    const cert = socket.getPeerX509Certificate()!;
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(socket.authorized).toBe(true); // Node checks the IP SAN against the host it connected to
    const response = await requestOver(socket, '/hello', `127.0.0.1:${origin.port}`);
    expect(response.status).toBe(200);
    socket.destroy();
  });

  it('relays a wss:// echo and logs each message', async () => {
    const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${origin.port}`);
    const ws = new WebSocket(`wss://${HOST}:${origin.port}/ws`, ['chat'], {
      createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca: caPem }),
    });
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        received.push(data.toString());
        if (received.length === 1) ws.send('ping over wss');
        if (received.length === 2) resolve();
      });
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('chat');
    expect(received).toEqual(['hello chat', 'echo: ping over wss']);
    ws.close(1000, 'done');
    const close = await mitm.waitFor('ws-close');
    expect(close.code).toBe(1000);
    const messages = mitm.ofType('ws-message').filter((m) => m.id === close.id);
    expect(messages.map((m) => [m.direction, m.data])).toEqual([
      ['receive', 'hello chat'],
      ['send', 'ping over wss'],
      ['receive', 'echo: ping over wss'],
    ]);
  });
});

describe('the live view\'s REST API', () => {
  it('serves a long connection\'s events whole, past what the memory keeps per connection', async () => {
    const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${origin.port}`);
    const ws = new WebSocket(`wss://${HOST}:${origin.port}/ws`, {
      createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca: caPem }),
    });
    // 1,100 echoes: 2,201 messages, past the 2,000 events a connection keeps in memory (DEFAULT_RING_LIMITS).
    const rounds = 1_100;
    let echoes = 0;
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        if (data.toString().startsWith('echo: ')) echoes++;
        if (echoes === rounds) return resolve();
        ws.send(`message ${echoes}`);
      });
      ws.once('error', reject);
    });
    const last = await mitm.waitFor('ws-message', (e) => e.data === `echo: message ${rounds - 1}`);
    ws.close(1000, 'done');
    const answer = await fetch(`http://127.0.0.1:${mitm.uiPort}/api/conns/${last.conn}/events`, { headers: { 'x-mitmlab-token': mitm.token! } });
    expect(answer.status).toBe(200);
    const events = (await answer.json()) as ProxyEvent[];
    const messages = events.filter((e) => e.type === 'ws-message');
    expect(messages).toHaveLength(2 * rounds + 1);
    expect(messages.at(-1)).toMatchObject({ data: `echo: message ${rounds - 1}` });
    // The connection's handshakes are there too, as for any connection.
    expect(events.filter((e) => e.type === 'tls-established').map((e) => e.leg).sort()).toEqual(['client', 'upstream']);
  });
});

describe('passthrough', () => {
  it('a passthrough host shows the origin\'s own certificate', async () => {
    const through = await startMitmlab({ passthrough: [HOST], resolve: [`${HOST}:127.0.0.1`] });
    try {
      const socket = await tlsThroughProxy({ proxyPort: through.proxyPort, authority: `127.0.0.1:${origin.port}`, servername: HOST, ca: pki.rootPem });
      expect(socket.authorized).toBe(true);
      const cert = socket.getPeerX509Certificate()!;
      expect(cert.issuer).not.toContain('lab CA');
      expect(cert.fingerprint256).toBe(new (await import('node:crypto')).X509Certificate(pki.valid.certPem).fingerprint256);
      const response = await requestOver(socket, '/hello', HOST);
      expect(response.body).toBe('hello from origin\n');
      socket.destroy();
      const tunnel = await through.waitFor('tunnel');
      expect(tunnel.reason).toBe('passthrough');
      expect(through.ofType('http-request')).toHaveLength(0);
    } finally {
      await through.close();
    }
  });
});
