// The live view must not become a hole: token on every request, Host pinned to the bound address (DNS rebinding),
// Origin checked on the WebSocket (cross-site WebSocket hijacking), captured bodies never rendered.

import http from 'node:http';
import net from 'node:net';
import { readdir, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadOrCreateToken, tokenPath } from '../../server/hub/token.js';
import { sessionCookieName } from '../../server/protocol/wire.js';
import { connectWire, startTestHub, type TestHub } from '../unit/hub/fixture.js';

/** The cookie a browser holds after opening the token URL. */
const browserCookie = (t: TestHub): string => `${sessionCookieName(t.hub.port)}=${t.hub.browserSession}`;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw request with exactly the headers given (fetch would not let us forge Host). */
function request(t: TestHub, pathname: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: t.hub.port, path: pathname, method, headers: { host: `127.0.0.1:${t.hub.port}`, ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The upgrade answer's status, or 101 when the WebSocket opened. */
function upgradeStatus(t: TestHub, headers: Record<string, string>, pathname = '/ws'): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.hub.port}${pathname}`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', reject);
  });
}

describe('hub access control', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t.close();
  });

  it('keeps the token 0600 in the data dir and reuses it', async () => {
    const file = tokenPath(path.join(t.dir, 'data'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateToken(path.join(t.dir, 'data'))).toBe(t.token);
    expect(t.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('answers 401 without a token, on the app, the API and with a wrong one', async () => {
    for (const p of ['/', '/assets/app.js', '/api/sessions', '/api/ca/mitmlab-ca.pem', '/api/bodies/' + 'a'.repeat(64)]) {
      const answer = await request(t, p);
      expect(answer.status, p).toBe(401);
      expect(answer.body).toMatch(/Open the "live view" URL mitmlab printed at start/);
    }
    expect((await request(t, '/api/sessions', { 'x-mitmlab-token': t.token + 'x' })).status).toBe(401);
    expect((await request(t, '/api/sessions', { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await request(t, '/api/sessions', { cookie: `${sessionCookieName(t.hub.port)}=nope` })).status).toBe(401);
    // The cookie holds the run's browser-session value, never the token: a cookie with the token is refused too.
    expect((await request(t, '/api/sessions', { cookie: `${sessionCookieName(t.hub.port)}=${t.token}` })).status).toBe(401);
    expect((await request(t, '/?token=nope')).status).toBe(401);
  });

  it('accepts the token as header or bearer, and the browser-session cookie', async () => {
    expect((await request(t, '/api/sessions', { 'x-mitmlab-token': t.token })).status).toBe(200);
    expect((await request(t, '/api/sessions', { authorization: `Bearer ${t.token}` })).status).toBe(200);
    expect((await request(t, '/api/sessions', { cookie: `theme=x; ${browserCookie(t)}` })).status).toBe(200);
  });

  it('trades the token URL for an HttpOnly SameSite=Strict cookie that is not the token, and redirects to /', async () => {
    const answer = await request(t, `/?token=${t.token}`);
    expect(answer.status).toBe(303);
    expect(answer.headers.location).toBe('/');
    const cookie = answer.headers['set-cookie']?.[0] ?? '';
    expect(cookie).toMatch(new RegExp(`^mitmlab_session_${t.hub.port}=[A-Za-z0-9_-]{43};`));
    expect(cookie).not.toContain(t.token);
    const value = cookie.slice(0, cookie.indexOf(';'));
    expect((await request(t, '/api/sessions', { cookie: value })).status).toBe(200);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
  });

  it('serves the app with a CSP that forbids inline script and limits images to blob:/data:', async () => {
    const answer = await request(t, '/', { cookie: browserCookie(t) });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = answer.headers['content-security-policy'] ?? '';
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(csp).toMatch(/img-src blob: data:(;|$)/);
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    const js = await request(t, '/assets/app.js', { cookie: browserCookie(t) });
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await request(t, '/../../etc/passwd', { cookie: browserCookie(t) })).status).toBe(404);
    expect((await request(t, '/%2e%2e/%2e%2e/etc/passwd', { cookie: browserCookie(t) })).status).toBe(404);
  });

  it('closes the file of an app download the browser broke off', async () => {
    // An asset far larger than the socket buffers, so each download is still reading the file when the client leaves.
    const big = path.join(t.dir, 'ui', 'assets', 'big.js');
    await writeFile(big, Buffer.alloc(16 * 1024 * 1024, 0x20));
    const openOnBig = async (): Promise<number> => {
      let count = 0;
      for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === big) count++;
      return count;
    };
    for (let i = 0; i < 5; i++) {
      const socket = net.connect(t.hub.port, '127.0.0.1');
      socket.write(`GET /assets/big.js HTTP/1.1\r\nHost: 127.0.0.1:${t.hub.port}\r\nCookie: ${browserCookie(t)}\r\n\r\n`);
      // The head and the first bytes came: the download is under way. Then the client leaves.
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.destroy();
    }
    await expect.poll(openOnBig).toBe(0);
  });

  it('answers 403 to a foreign Host, even with the token (DNS rebinding)', async () => {
    for (const host of ['evil.test', `evil.test:${t.hub.port}`, `127.0.0.1:${t.hub.port + 1}`, `127.0.0.1.evil.test:${t.hub.port}`]) {
      const answer = await request(t, '/api/sessions', { host, 'x-mitmlab-token': t.token });
      expect(answer.status, host).toBe(403);
    }
    // HTTP/1.0 without any Host header.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(t.hub.port, '127.0.0.1', () => socket.end(`GET /api/sessions HTTP/1.0\r\nX-Mitmlab-Token: ${t.token}\r\n\r\n`));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.[01] 403/);
    for (const host of [`localhost:${t.hub.port}`, `127.0.0.1:${t.hub.port}`, `[::1]:${t.hub.port}`]) {
      expect((await request(t, '/api/sessions', { host, 'x-mitmlab-token': t.token })).status, host).toBe(200);
    }
  });

  it('answers 400 to a request target that is not a URL, upgrade or not, and stays up', async () => {
    const raw = (text: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(t.hub.port, '127.0.0.1', () => socket.write(text));
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString()));
        socket.on('end', () => resolve(answer));
        socket.on('error', reject);
        setTimeout(() => socket.end(), 2000);
      });
    const host = `Host: 127.0.0.1:${t.hub.port}\r\nX-Mitmlab-Token: ${t.token}\r\n`;
    const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    for (const target of ['http://[/ws', 'http://a:99999/ws']) {
      expect(await raw(`GET ${target} HTTP/1.1\r\n${host}${upgrade}\r\n`), target).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*not a valid URL/);
      expect(await raw(`GET ${target} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`), target).toMatch(/^HTTP\/1\.1 400 [^]*not a valid URL/);
    }
    // Absolute-form targets that parse are served by path (RFC 9112 §3.2.2), and the hub is still up.
    expect(await raw(`GET http://127.0.0.1:${t.hub.port}/api/sessions HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 200/);
  });

  it('refuses cross-origin REST requests', async () => {
    const answer = await request(t, '/api/selftest', { origin: 'http://evil.test', cookie: browserCookie(t) }, 'POST');
    expect(answer.status).toBe(403);
    const own = await request(t, '/api/selftest', { origin: `http://127.0.0.1:${t.hub.port}`, cookie: browserCookie(t) }, 'POST');
    expect(own.status).toBe(200);
  });

  it('rejects WebSocket upgrades with a foreign Origin, no token, a wrong Host, or a cookie without Origin', async () => {
    const own = `http://127.0.0.1:${t.hub.port}`;
    expect(await upgradeStatus(t, { origin: 'http://evil.test', cookie: browserCookie(t) })).toBe(403);
    expect(await upgradeStatus(t, { origin: `http://evil.test:${t.hub.port}`, 'x-mitmlab-token': t.token })).toBe(403);
    expect(await upgradeStatus(t, { origin: 'null', 'x-mitmlab-token': t.token })).toBe(403);
    expect(await upgradeStatus(t, { origin: own })).toBe(401);
    expect(await upgradeStatus(t, { origin: own, cookie: `${sessionCookieName(t.hub.port)}=wrong` })).toBe(401);
    expect(await upgradeStatus(t, { host: `evil.test:${t.hub.port}`, origin: own, 'x-mitmlab-token': t.token })).toBe(403);
    expect(await upgradeStatus(t, { cookie: browserCookie(t) })).toBe(403);
    expect(await upgradeStatus(t, { origin: own, cookie: browserCookie(t) }, '/other')).toBe(404);
    // The browser's case and the script's case.
    expect(await upgradeStatus(t, { origin: own, cookie: browserCookie(t) })).toBe(101);
    expect(await upgradeStatus(t, { origin: `http://localhost:${t.hub.port}`, cookie: browserCookie(t) })).toBe(101);
    expect(await upgradeStatus(t, { 'x-mitmlab-token': t.token })).toBe(101);
  });

  it('serves captured bodies as downloads that never render', async () => {
    const sha = t.blobs.put(Buffer.from('<script>alert(1)</script>'));
    const answer = await request(t, `/api/bodies/${sha}?type=text/html&name=page.html`, { 'x-mitmlab-token': t.token });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('<script>alert(1)</script>');
    expect(answer.headers['content-type']).toBe('text/html');
    expect(answer.headers['content-disposition']).toMatch(/^attachment; filename="page.html"/);
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['content-security-policy']).toMatch(/^sandbox/);
    // A captured password must not outlive the session in the browser's disk cache.
    expect(answer.headers['cache-control']).toBe('no-store');
    const odd = await request(t, `/api/bodies/${sha}?type=${encodeURIComponent('text/html\r\nx: y')}`, { 'x-mitmlab-token': t.token });
    expect(odd.headers['content-type']).toBe('application/octet-stream');
    expect((await request(t, '/api/bodies/' + 'b'.repeat(64), { 'x-mitmlab-token': t.token })).status).toBe(404);
    expect((await request(t, '/api/bodies/nothex', { 'x-mitmlab-token': t.token })).status).toBe(400);
  });

  it('serves the CA as PEM and DER downloads', async () => {
    const pem = await request(t, '/api/ca/mitmlab-ca.pem', { 'x-mitmlab-token': t.token });
    expect(pem.status).toBe(200);
    expect(pem.body).toMatch(/BEGIN CERTIFICATE/);
    expect(pem.headers['content-disposition']).toMatch(/filename="mitmlab-ca.pem"/);
    const der = await request(t, '/api/ca/mitmlab-ca.cer', { 'x-mitmlab-token': t.token });
    expect(der.headers['content-type']).toBe('application/x-x509-ca-cert');
  });

  it('still streams to a WebSocket opened with the cookie', async () => {
    const client = await connectWire(t, '', { origin: `http://127.0.0.1:${t.hub.port}` });
    await client.until((m) => m.some((x) => x.type === 'snapshot'));
    expect(client.messages[0]).toMatchObject({ type: 'hello', version: 1, proxyPorts: [8080], ca: { sha256: 'AA:BB' } });
    client.close();
  });
});
