// A clean stop (SIGTERM, Ctrl-C) keeps what was already seen on connections still open: the handshakes of an idle
// keep-alive connection, the head and the body so far of a response still streaming, and an upload still arriving.

import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { connectTunnel, requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';

const HOST = 'origin.test';
let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
});

afterAll(async () => {
  await origin?.close();
});

describe('a clean stop with connections still open', () => {
  it('records their handshakes, the streaming response so far, the upload so far, and each connection-close', async () => {
    const caPem = await readFile(mitm.caPath, 'utf8');
    const authority = `${HOST}:${origin.port}`;

    // 1. An idle keep-alive connection whose exchange finished.
    const idle = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority, servername: HOST, ca: caPem });
    expect((await requestOver(idle, '/hello?stop=idle', authority)).status).toBe(200);
    idle.on('error', () => {});

    // 2. A response still streaming: 64 MiB read slowly, so most of it is still to come.
    const streaming = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority, servername: HOST, ca: caPem });
    streaming.on('error', () => {});
    const head = new Promise<void>((resolve) => {
      const req = http.request({ path: `/bytes?n=${64 * 1024 * 1024}&stop=streaming`, headers: { host: authority }, createConnection: () => streaming });
      req.on('response', (res) => {
        res.once('data', () => {
          res.pause();
          resolve();
        });
      });
      req.on('error', () => {});
      req.end();
    });
    await head;

    // 3. An upload still arriving: 10 bytes of a 1000-byte body.
    const uploading = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority, servername: HOST, ca: caPem });
    uploading.on('error', () => {});
    uploading.write(`POST /echo?stop=uploading HTTP/1.1\r\nHost: ${authority}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\npassword=1`);
    await new Promise((resolve) => setTimeout(resolve, 300));

    await mitm.close();

    const requests = mitm.ofType('http-request');
    const byTag = (tag: string) => requests.find((e) => e.url.includes(`stop=${tag}`));
    const conns = mitm.ofType('connect').map((e) => e.conn);
    expect(conns).toHaveLength(3);
    for (const conn of conns) {
      // A connection that reused an idle origin connection has no upstream leg of its own: the one that opened it does.
      const reused = mitm.ofType('upstream-reused').find((e) => e.conn === conn);
      for (const [leg, owner] of [['client', conn], ['upstream', reused?.from ?? conn]] as const) {
        expect(mitm.ofType('tls-transcript').some((e) => e.conn === owner && e.leg === leg), `${owner} ${leg} transcript`).toBe(true);
      }
      expect(mitm.ofType('connection-close').some((e) => e.conn === conn), `${conn} connection-close`).toBe(true);
    }

    const streamed = mitm.ofType('http-response').find((e) => e.id === byTag('streaming')!.id);
    expect(streamed?.status).toBe(200);
    expect(streamed?.body?.size).toBeGreaterThan(0);
    const stopped = mitm.ofType('proxy-error').filter((e) => e.id === byTag('streaming')!.id || e.id === byTag('uploading')!.id);
    expect(stopped.map((e) => e.code)).toEqual(['stopped', 'stopped']);
    expect(stopped[0]!.message).toMatch(/mitmlab stopped/);

    const upload = byTag('uploading');
    expect(upload?.method).toBe('POST');
    expect(upload?.body?.size).toBe(10);
  });

  it('says "stopped" once for a plain http:// response cut by the stop, and does not wait on an origin stuck in its handshake', async () => {
    const plain = await startOrigin();
    // Accepts TCP and never answers the ClientHello.
    const silent = net.createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const own = await startMitmlab({ resolve: [`${HOST}:127.0.0.1`, `silent.test:127.0.0.1`] });
    try {
      const streamed = new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: own.proxyPort, path: `http://${HOST}:${plain.port}/bytes?n=${64 * 1024 * 1024}` }, (res) => {
          res.once('data', () => {
            res.pause();
            resolve();
          });
        });
        req.on('error', () => {});
      });
      await streamed;
      const stuck = await connectTunnel(own.proxyPort, `silent.test:${(silent.address() as net.AddressInfo).port}`);
      stuck.on('error', () => {});
      tls.connect({ socket: stuck, servername: 'silent.test', rejectUnauthorized: false }).on('error', () => {});
      await own.waitFor('tls-client-hello', (e) => e.leg === 'client' && e.hello.serverName === 'silent.test');

      await own.close();
      // The stop closed the origin connection in its handshake and did not give up waiting on anything.
      expect(own.ctx.upstreamSockets.size).toBe(0);
      expect(own.ctx.unfinished.size).toBe(0);

      const request = own.ofType('http-request').find((e) => e.url.includes('/bytes'))!;
      expect(own.ofType('proxy-error').filter((e) => e.id === request.id).map((e) => e.code)).toEqual(['stopped']);
      expect(own.ofType('http-response').filter((e) => e.id === request.id).map((e) => e.synthetic)).toEqual([false]);
      const stuckConn = own.ofType('connect').find((e) => e.host === 'silent.test')!.conn;
      expect(own.ofType('connection-close').some((e) => e.conn === stuckConn)).toBe(true);
      expect(own.ofType('tls-transcript').filter((e) => e.conn === stuckConn).map((e) => e.leg).sort()).toEqual(['client', 'upstream']);
      // mitmlab closed both legs: neither peer is blamed for a reset.
      expect(own.ofType('tls-failed').filter((e) => e.conn === stuckConn)).toEqual([]);
      expect(own.ofType('proxy-error').filter((e) => e.conn === stuckConn).map((e) => e.code)).toContain('stopped');
    } finally {
      await plain.close();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
