// Interim (1xx) responses and Expect: 100-continue through mitmlab: the origin decides whether the body may come,
// and its interim responses reach HTTP/1.1 clients before the final one (RFC 9110 §10.1.1, §15.2).

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';

const HOST = 'origin.test';
let mitm: TestMitmlab;
let origin: http.Server;
/** Final responses held back until the test has seen the interim one. */
const held = new Map<string, () => void>();
const expectSeen: string[] = [];

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    if (req.url === '/hint-with-length') {
      // A 1xx must carry no content; this one claims some.
      req.socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Length: 5\r\n\r\n');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('final\n');
      return;
    }
    if (req.url === '/bare-101') {
      // "Switching Protocols" without an Upgrade field or a request for one.
      req.socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\n');
      return;
    }
    if (req.url?.startsWith('/early')) {
      const socket = req.socket;
      socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
      const url = req.url;
      held.set(url, () => {
        held.delete(url);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('final\n');
      });
      return;
    }
    if (req.url === '/headers') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.headers));
      return;
    }
    // /upload: the body came after the origin's own "100 Continue".
    let length = 0;
    req.on('data', (c: Buffer) => (length += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`got ${length} bytes\n`);
    });
  });
  origin.on('checkContinue', (req, res) => {
    expectSeen.push(String(req.headers.expect));
    if (req.url?.startsWith('/refuse')) {
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('no upload for you\n');
      return;
    }
    res.writeContinue();
    origin.emit('request', req, res);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  mitm = await startMitmlab({ resolve: [`${HOST}:127.0.0.1`] });
});

afterAll(async () => {
  for (const release of held.values()) release();
  await mitm?.close();
  origin.closeAllConnections();
  await new Promise((resolve) => origin.close(resolve));
});

const authority = (): string => `${HOST}:${(origin.address() as AddressInfo).port}`;

/** A raw client on the proxy port: what it has read so far, and a way to wait for some text. */
function rawClient(): { socket: net.Socket; text: () => string; until: (pattern: RegExp, ms?: number) => Promise<string> } {
  const socket = net.connect(mitm.proxyPort, '127.0.0.1');
  let text = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (c: Buffer) => {
    text += c.toString('latin1');
    for (const waiter of waiters.splice(0)) waiter();
  });
  const until = (pattern: RegExp, ms = 3_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms; got: ${JSON.stringify(text)}`)), ms);
      const check = (): void => {
        if (pattern.test(text)) {
          clearTimeout(timer);
          resolve(text);
        } else waiters.push(check);
      };
      check();
    });
  return { socket, text: () => text, until };
}

describe('interim responses', () => {
  it('a 103 Early Hints reaches an HTTP/1.1 client while the final response is still held back', async () => {
    const client = rawClient();
    client.socket.write(`GET http://${authority()}/early?v=11 HTTP/1.1\r\nHost: ${authority()}\r\n\r\n`);
    const early = await client.until(/^HTTP\/1\.1 103 Early Hints\r\n/);
    expect(early).toContain('Link: </style.css>; rel=preload');
    expect(early).not.toContain('200 OK');
    held.get('/early?v=11')!();
    expect(await client.until(/HTTP\/1\.1 200 OK[\s\S]*final\n/)).toMatch(/103 Early Hints[\s\S]*200 OK/);
    client.socket.destroy();
    // Recorded with the final response.
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('/early?v=11'));
    const response = await mitm.waitFor('http-response', (e) => e.id === request.id);
    expect(response.interim?.map((i) => [i.status, i.statusText, i.headers])).toEqual([[103, 'Early Hints', [['Link', '</style.css>; rel=preload']]]]);
  });

  it('an HTTP/1.0 client gets only the final response (HTTP/1.0 has no 1xx)', async () => {
    const client = rawClient();
    client.socket.write(`GET http://${authority()}/early?v=10 HTTP/1.0\r\nHost: ${authority()}\r\n\r\n`);
    await expect.poll(() => held.has('/early?v=10')).toBe(true);
    held.get('/early?v=10')!();
    const text = await client.until(/final\n/);
    expect(text).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    expect(text).not.toContain('103');
    client.socket.destroy();
  });
});

describe('Expect: 100-continue', () => {
  it('goes to the origin: its refusal comes back before any body is sent, and nothing is reported as aborted', async () => {
    const client = rawClient();
    client.socket.write(`POST http://${authority()}/refuse HTTP/1.1\r\nHost: ${authority()}\r\nExpect: 100-continue\r\nContent-Length: 20000000\r\n\r\n`);
    const text = await client.until(/no upload for you\n/);
    expect(text).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(text).not.toContain('100 Continue');
    expect(expectSeen).toContain('100-continue');
    client.socket.destroy();
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('/refuse'));
    const response = await mitm.waitFor('http-response', (e) => e.id === request.id);
    expect(response.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(mitm.ofType('proxy-error').filter((e) => e.id === request.id)).toEqual([]);
  });

  it("the origin's 100 Continue lets the body through", async () => {
    const client = rawClient();
    client.socket.write(`POST http://${authority()}/upload HTTP/1.1\r\nHost: ${authority()}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n`);
    await client.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    client.socket.write('hello');
    expect(await client.until(/got 5 bytes\n/)).toMatch(/100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    client.socket.destroy();
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('/upload') && e.method === 'POST' && e.body?.size === 5);
    expect((await mitm.waitFor('http-response', (e) => e.id === request.id)).interim?.map((i) => i.status)).toEqual([100]);
  });

  it('an HTTP/1.0 client that sends Expect gets no 100 (it has no 1xx), and the origin does not see the Expect', async () => {
    const client = rawClient();
    client.socket.write(`POST http://${authority()}/headers HTTP/1.0\r\nHost: ${authority()}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello`);
    const text = await client.until(/\}$/);
    expect(text).not.toContain('100 Continue');
    expect(text).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).expect).toBeUndefined();
    client.socket.destroy();
  });

  it('an upload whose origin cannot be reached gets the 502, recorded once, not also as the client leaving', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const client = rawClient();
    client.socket.write(`POST http://127.0.0.1:${port}/gone HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nExpect: 100-continue\r\nContent-Length: 3000000\r\n\r\n`);
    expect(await client.until(/^HTTP\/1\.1 502 /)).toBeTruthy();
    client.socket.destroy();
    const request = await mitm.waitFor('http-request', (e) => e.url.endsWith('/gone'));
    await mitm.waitFor('proxy-error', (e) => e.id === request.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mitm.ofType('proxy-error').filter((e) => e.id === request.id).map((e) => e.code)).toEqual(['upstream-unreachable']);
  });
});

describe('interim responses the origin gets wrong', () => {
  it('a 1xx claiming content goes on without its framing fields', async () => {
    const client = rawClient();
    client.socket.write(`GET http://${authority()}/hint-with-length HTTP/1.1\r\nHost: ${authority()}\r\nConnection: close\r\n\r\n`);
    const text = await client.until(/final\n/);
    const hint = text.slice(0, text.indexOf('\r\n\r\n'));
    expect(hint).toMatch(/^HTTP\/1\.1 103 /);
    expect(hint).toContain('Link: </a.css>; rel=preload');
    expect(hint.toLowerCase()).not.toContain('content-length');
    client.socket.destroy();
  });

  it('a 101 nobody asked for, without Upgrade, gets a 502 instead of leaving the client hanging', async () => {
    const client = rawClient();
    client.socket.write(`GET http://${authority()}/bare-101 HTTP/1.1\r\nHost: ${authority()}\r\n\r\n`);
    const text = await client.until(/^HTTP\/1\.1 502 [\s\S]*<\/html>/);
    expect(text).toContain('switched protocols');
    client.socket.destroy();
  });
});
