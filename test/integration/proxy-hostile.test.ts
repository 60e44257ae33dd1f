// Hostile and malformed input gets a clear 4xx, never a crash, and the proxy keeps serving.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { rawExchange, statusOf } from '../helpers/raw-http.js';
import { connectTunnel, requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';

const HOST = 'origin.test';
let pki: TestPki;
let origin: Origin;
let plain: Origin;
let mitm: TestMitmlab;
let caPem: string;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST, '127.0.0.1'] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  plain = await startOrigin();
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
  caPem = await readFile(mitm.caPath, 'utf8');
});

afterAll(async () => {
  await mitm?.close();
  await origin?.close();
  await plain?.close();
});

/** The proxy still answers a plain http:// request through it. */
async function stillServing(): Promise<void> {
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: mitm.proxyPort, path: `http://127.0.0.1:${plain.port}/hello`, headers: { host: `127.0.0.1:${plain.port}` } });
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
  expect(status).toBe(200);
}

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String).sort();
}

describe('refused with a clear answer', () => {
  it('CONNECT ../../x:443 → 400, and no file is created', async () => {
    const cwd = process.cwd();
    const before = await listTree(mitm.dir);
    const cwdBefore = await readdir(path.resolve(cwd, '..'));
    const response = await rawExchange(mitm.proxyPort, 'CONNECT ../../x:443 HTTP/1.1\r\nHost: ../../x:443\r\n\r\n');
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('Bad CONNECT target');
    expect(await listTree(mitm.dir)).toEqual(before);
    expect(await readdir(path.resolve(cwd, '..'))).toEqual(cwdBefore);
    await mitm.waitFor('proxy-error', (e) => e.code === 'bad-connect-target');
    await stillServing();
  });

  it.each([
    ['CONNECT with a path', 'CONNECT /etc/passwd HTTP/1.1\r\n\r\n', 'must be host:port'],
    ['CONNECT without a port', 'CONNECT example.test HTTP/1.1\r\n\r\n', 'must be host:port'],
    ['CONNECT with a port out of range', 'CONNECT example.test:70000 HTTP/1.1\r\n\r\n', 'port 70000 is out of range'],
    ['CONNECT with NUL in the host', 'CONNECT exa%00mple.test:443 HTTP/1.1\r\n\r\n', 'invalid host in the CONNECT target'],
    ['CONNECT with two ports', 'CONNECT example.test:443:1 HTTP/1.1\r\n\r\n', 'must be host:port, with one colon'],
    ['CONNECT with a URL', 'CONNECT http://example.test:443/ HTTP/1.1\r\n\r\n', 'must be host:port, not a URL'],
    ['CONNECT with an IPv6 address not in brackets', 'CONNECT ::1:443 HTTP/1.1\r\n\r\n', 'an IPv6 address in the CONNECT target must be in brackets'],
    ['an absolute-form URL with port 0', 'GET http://127.0.0.1:0/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 'port 0 is out of range'],
  ])('%s → 400, with the reason', async (_name, request, reason) => {
    const response = await rawExchange(mitm.proxyPort, request);
    expect(statusOf(response)).toBe(400);
    expect(response).toContain(reason);
  });

  it('a garbage request line → 400, then the proxy keeps serving', async () => {
    const response = await rawExchange(mitm.proxyPort, '\x16\x03\x01garbage \x00\x01 line\r\n\r\n');
    expect(statusOf(response)).toBe(400);
    await mitm.waitFor('proxy-error', (e) => e.code === 'bad-request');
    await stillServing();
  });

  it('oversized headers → 431', async () => {
    const big = 'x'.repeat(64 * 1024);
    const response = await rawExchange(mitm.proxyPort, `GET http://127.0.0.1:${plain.port}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${big}\r\n\r\n`);
    expect(statusOf(response)).toBe(431);
    await stillServing();
  });

  it('an origin-form request to the proxy port → 400 "this is a proxy"', async () => {
    const response = await rawExchange(mitm.proxyPort, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('proxy');
  });

  it('a request to the proxy itself through the proxy → refused (loop)', async () => {
    const response = await rawExchange(mitm.proxyPort, `GET http://127.0.0.1:${mitm.proxyPort}/ HTTP/1.1\r\nHost: 127.0.0.1:${mitm.proxyPort}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(response)).toBe(403);
    const connect = await rawExchange(mitm.proxyPort, `CONNECT localhost:${mitm.proxyPort} HTTP/1.1\r\n\r\n`);
    expect(statusOf(connect)).toBe(403);
    await stillServing();
  });

  it('the live-view port requested through the proxy → refused, in absolute form and through CONNECT', async () => {
    expect(mitm.uiPort).toBeGreaterThan(0);
    const absolute = await rawExchange(mitm.proxyPort, `GET http://127.0.0.1:${mitm.uiPort}/?token=${mitm.token} HTTP/1.1\r\nHost: 127.0.0.1:${mitm.uiPort}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(absolute)).toBe(403);
    expect(absolute).not.toContain(mitm.token!);
    const connect = await rawExchange(mitm.proxyPort, `CONNECT 127.0.0.1:${mitm.uiPort} HTTP/1.1\r\n\r\n`);
    expect(statusOf(connect)).toBe(403);
    const byName = await rawExchange(mitm.proxyPort, `GET http://localhost:${mitm.uiPort}/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    expect(statusOf(byName)).toBe(403);
    await mitm.waitFor('proxy-error', (e) => e.code === 'loop-refused');
  });

  it('a name resolving to the proxy port is refused after resolution too', async () => {
    const looped = await startMitmlab({ resolve: [`loop.test:127.0.0.1`] });
    try {
      const response = await rawExchange(looped.proxyPort, `GET http://loop.test:${looped.proxyPort}/ HTTP/1.1\r\nHost: loop.test\r\nConnection: close\r\n\r\n`);
      expect(statusOf(response)).toBe(403);
    } finally {
      await looped.close();
    }
  });
});

describe('clients that go away', () => {
  it('a client that disconnects mid-body → no crash', async () => {
    const tunnel = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca: caPem });
    tunnel.write(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(1000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    tunnel.destroy();
    await mitm.waitFor('proxy-error', (e) => e.code === 'client-aborted');
    const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca: caPem });
    expect((await requestOver(socket, '/hello', HOST)).status).toBe(200);
    socket.destroy();
    await stillServing();
  });

  it('a client that closes the tunnel in the middle of its ClientHello → no crash', async () => {
    const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${origin.port}`);
    tunnel.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    tunnel.destroy();
    await stillServing();
  });

  it('non-TLS bytes after CONNECT are relayed raw and logged as a tunnel', async () => {
    const tunnel = await connectTunnel(mitm.proxyPort, `127.0.0.1:${plain.port}`);
    const response = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      tunnel.on('data', (c: Buffer) => chunks.push(c));
      tunnel.on('end', () => resolve(Buffer.concat(chunks).toString()));
      tunnel.write(`GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    expect(response).toContain('hello from origin');
    const tunnelEvent = await mitm.waitFor('tunnel', (e) => e.reason === 'not-tls');
    expect(tunnelEvent.port).toBe(plain.port);
  });
});

describe('plain http:// and ws://', () => {
  it('forwards an absolute-form GET and records it', async () => {
    await stillServing();
    const response = await mitm.waitFor('http-response', (e) => e.status === 200 && mitm.ofType('http-request').some((r) => r.id === e.id && r.url.startsWith('http://')));
    expect(response.synthetic).toBe(false);
  });

  it('relays ws:// in absolute form', async () => {
    // A browser sends the upgrade to a proxy in absolute form; write it raw, as it would appear on the wire.
    const socket = net.connect({ host: '127.0.0.1', port: mitm.proxyPort });
    const head = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        if (text.includes('\r\n\r\n')) resolve(text);
      });
      socket.write(
        `GET http://127.0.0.1:${plain.port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.destroy();
    expect(statusOf(head)).toBe(101);
    const open = await mitm.waitFor('ws-open', (e) => e.url.startsWith('ws://'));
    expect(open.url).toBe(`ws://127.0.0.1:${plain.port}/ws`);
  });
});
