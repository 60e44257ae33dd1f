// The live view must never be reachable through the proxy (cf. CVE-2025-23217, mitmproxy's web UI reached as a
// proxied destination). Two independent walls: the proxy refuses its own ports (core), and the hub refuses any
// Host that is not its bound address (it would see the proxied name, even with a stolen token).

import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { rawExchange, statusOf } from '../helpers/raw-http.js';

let mitm: TestMitmlab;

beforeAll(async () => {
  mitm = await startMitmlab({ resolve: ['ui.lab.test:127.0.0.1'] });
});
afterAll(async () => {
  await mitm?.close();
});

function hubGet(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: mitm.uiPort!, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('the live view through the proxy', () => {
  it('is refused by the proxy for every way of naming it, token or not', async () => {
    const port = mitm.uiPort!;
    const attempts = [
      `GET http://ui.lab.test:${port}/api/sessions HTTP/1.1\r\nHost: ui.lab.test:${port}\r\nX-Mitmlab-Token: ${mitm.token}\r\nConnection: close\r\n\r\n`,
      `GET http://[::1]:${port}/ HTTP/1.1\r\nHost: [::1]:${port}\r\nConnection: close\r\n\r\n`,
      `CONNECT ui.lab.test:${port} HTTP/1.1\r\nHost: ui.lab.test:${port}\r\n\r\n`,
      `GET http://127.0.0.1:${port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Mitmlab-Token: ${mitm.token}\r\n\r\n`,
    ];
    for (const attempt of attempts) {
      const response = await rawExchange(mitm.proxyPort, attempt);
      expect(statusOf(response), attempt.split('\r\n')[0]).toBe(403);
      expect(response).not.toMatch(/"type":"hello"|mitmlab live view<\/title>|\[\{"id"/);
    }
  });

  it('never records the live-view token a browser sends through the proxy (the token URL, the header, the cookie)', async () => {
    const port = mitm.uiPort!;
    const token = mitm.token!;
    const response = await rawExchange(
      mitm.proxyPort,
      `GET http://127.0.0.1:${port}/?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Mitmlab-Token: ${token}\r\nCookie: mitmlab_token=${token}\r\nConnection: close\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(403);
    const request = await mitm.waitFor('http-request', (e) => e.url.startsWith(`http://127.0.0.1:${port}/?token=`));
    await mitm.waitFor('http-response', (e) => e.id === request.id);
    await mitm.store.flush();
    const recorded = JSON.stringify(mitm.events);
    expect(recorded).not.toContain(token);
    expect(request.url).toBe(`http://127.0.0.1:${port}/?token=[mitmlab live-view token]`);
    expect(request.headers).toContainEqual(['X-Mitmlab-Token', '[mitmlab live-view token]']);
  });

  it('would be refused by the hub itself: a proxied Host never matches, even with the token', async () => {
    const port = mitm.uiPort!;
    expect((await hubGet('/api/sessions', { host: `127.0.0.1:${port}`, 'x-mitmlab-token': mitm.token! })).status).toBe(200);
    const proxiedName = await hubGet('/api/sessions', { host: `ui.lab.test:${port}`, 'x-mitmlab-token': mitm.token! });
    expect(proxiedName.status).toBe(403);
    expect(proxiedName.body).toMatch(/DNS rebinding/);
  });
});
