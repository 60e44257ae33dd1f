// A response head reaches the browser when the origin sends it, not with the first body bytes: a server-sent event
// stream or a long poll whose origin flushed its head must look the same through mitmlab as direct.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';

const HOST = 'origin.test';
let pki: TestPki;
let mitm: TestMitmlab;
let plainOrigin: http.Server;
let tlsOrigin: https.Server;
/** Bodies held back by the origins until the test has seen the head. */
const held = new Map<string, () => void>();

function holdingHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url?.startsWith('/announces-trailer')) {
    // A Trailer field on answers that are never chunked: a body with Content-Length, a 204, a HEAD answer.
    const kind = new URL(req.url, 'http://x').searchParams.get('kind');
    req.socket.end(
      kind === 'no-content'
        ? 'HTTP/1.1 204 No Content\r\nTrailer: X-T\r\n\r\n'
        : kind === 'head'
          ? 'HTTP/1.1 200 OK\r\nTrailer: grpc-status\r\nTransfer-Encoding: chunked\r\n\r\n'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTrailer: X-T\r\n\r\nok',
    );
    return;
  }
  if (req.url?.startsWith('/trailers')) {
    // Echoes the request's trailer fields, and ends its own body with one.
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'X-Checksum' });
      res.write(JSON.stringify(req.trailers));
      res.addTrailers({ 'X-Checksum': 'deadbeef' });
      res.end();
    });
    return;
  }
  const big = /[?&]cookie=(\d+)/.exec(req.url ?? '');
  if (big) {
    // One Set-Cookie of the size asked for: large heads are common (JWT cookies, long CSPs).
    res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': `jwt=${'a'.repeat(Number(big[1]))}` });
    res.end('big head\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.flushHeaders();
  held.set(new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '', () => res.end('data: released\n\n'));
}

const portOf = (server: http.Server): number => (server.address() as AddressInfo).port;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST] });
  plainOrigin = http.createServer({ maxHeaderSize: 1024 * 1024 }, holdingHandler);
  tlsOrigin = https.createServer({ cert: pki.valid.certPem, key: pki.valid.keyPem }, holdingHandler);
  await new Promise<void>((resolve) => plainOrigin.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => tlsOrigin.listen(0, '127.0.0.1', resolve));
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
});

afterAll(async () => {
  for (const release of held.values()) release();
  await mitm?.close();
  for (const server of [plainOrigin, tlsOrigin]) {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
});

/** `pending`, or a rejection when it has not settled within `ms` (the body stays held back until then). */
function headWithin<T>(pending: Promise<T>, ms: number): Promise<T> {
  return Promise.race([pending, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no response head within ${ms} ms`)), ms))]);
}

describe('a response head the origin flushed before its body', () => {
  it('plain http://: reaches the client while the body is still held back', async () => {
    const res = await headWithin(
      new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: mitm.proxyPort, path: `http://${HOST}:${portOf(plainOrigin)}/events?id=plain` }, resolve);
        req.on('error', reject);
      }),
      3_000,
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    let body = '';
    res.on('data', (c: Buffer) => (body += c.toString()));
    const ended = new Promise((resolve) => res.on('end', resolve));
    held.get('plain')!();
    await ended;
    expect(body).toBe('data: released\n\n');
  });

  it('inside a tunnel: reaches the client while the body is still held back', async () => {
    const caPem = await readFile(mitm.caPath, 'utf8');
    const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${portOf(tlsOrigin)}`, servername: HOST, ca: caPem });
    const head = new Promise<void>((resolve) => {
      socket.once('data', (chunk: Buffer) => {
        expect(chunk.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
        resolve();
      });
    });
    const response = requestOver(socket, '/events?id=tunnel', `${HOST}:${portOf(tlsOrigin)}`);
    await headWithin(head, 3_000);
    held.get('tunnel')!();
    const complete = await response;
    expect(complete.status).toBe(200);
    expect(complete.body).toBe('data: released\n\n');
    socket.destroy();
  });
});

describe('large response heads', () => {
  const get = (path: string): Promise<{ status: number; cookie: string; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: mitm.proxyPort, path: `http://${HOST}:${portOf(plainOrigin)}${path}`, maxHeaderSize: 1024 * 1024 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, cookie: String(res.headers['set-cookie'] ?? ''), body }));
      });
      req.on('error', reject);
    });

  it('relays a 40 KiB Set-Cookie (a Node client stops at 16 KiB by default)', async () => {
    const answer = await get('/big?cookie=40000');
    expect(answer.status).toBe(200);
    expect(answer.cookie).toHaveLength('jwt='.length + 40_000);
    expect(answer.body).toBe('big head\n');
  });

  it('answers a head past 256 KiB, more than browsers take, with a 502 that says so', async () => {
    const answer = await get('/big?cookie=300000');
    expect(answer.status).toBe(502);
    expect(answer.body).toContain('larger than 256 KiB');
  });
});

describe('trailer fields', () => {
  it('go on with the body both ways (RFC 9110 §6.5)', async () => {
    const answer = await new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: mitm.proxyPort, method: 'POST', path: `http://${HOST}:${portOf(plainOrigin)}/trailers`, headers: { 'transfer-encoding': 'chunked', trailer: 'X-Sum', te: 'trailers' } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ body, trailers: res.trailers }));
        },
      );
      req.on('error', reject);
      req.write('some body');
      req.addTrailers({ 'X-Sum': '42' });
      req.end();
    });
    expect(JSON.parse(answer.body)).toEqual({ 'x-sum': '42' });
    expect(answer.trailers).toEqual({ 'x-checksum': 'deadbeef' });
    // And recorded, with the message they end.
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('/trailers'));
    expect(request.trailers).toEqual([['X-Sum', '42']]);
    expect((await mitm.waitFor('http-response', (e) => e.id === request.id)).trailers).toEqual([['X-Checksum', 'deadbeef']]);
  });

  it('a Trailer field on a message that is not chunked is dropped, never a crash (request or response)', async () => {
    const ask = (method: string, path: string, headers: Record<string, string> = {}, http10 = false): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(mitm.proxyPort, '127.0.0.1');
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.write(`${method} http://${HOST}:${portOf(plainOrigin)}${path} HTTP/1.${http10 ? 0 : 1}\r\nHost: ${HOST}\r\nConnection: close\r\n${extra}\r\n`);
      });
    expect(await ask('GET', '/big?cookie=10', { Trailer: 'x' })).toMatch(/^HTTP\/1\.1 200 /);
    expect(await ask('GET', '/announces-trailer?kind=length')).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok$/);
    expect(await ask('GET', '/announces-trailer?kind=no-content')).toMatch(/^HTTP\/1\.1 204 /);
    expect(await ask('HEAD', '/announces-trailer?kind=head')).toMatch(/^HTTP\/1\.1 200 /);
    expect(await ask('GET', '/announces-trailer?kind=length', {}, true)).toMatch(/^HTTP\/1\.1 200 /);
    // Still serving.
    expect(await ask('GET', '/big?cookie=10')).toMatch(/^HTTP\/1\.1 200 /);
  });
});
