// The live view must never be reachable through the proxy (cf. CVE-2025-23217, mitmproxy's web UI reached as a
// proxied destination). Two independent walls: the proxy refuses its own ports (core), and the hub refuses any
// Host that is not its bound address (it would see the proxied name, even with a stolen token).

import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { rawExchange, statusOf } from '../helpers/raw-http.js';
import { startOrigin } from '../helpers/origin.js';

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

  it('never records the live-view token or cookie a browser sends through the proxy (the token URL, the header, the cookie)', async () => {
    const port = mitm.uiPort!;
    const token = mitm.token!;
    const session = mitm.browserSession!;
    const response = await rawExchange(
      mitm.proxyPort,
      `GET http://127.0.0.1:${port}/?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Mitmlab-Token: ${token}\r\nCookie: mitmlab_session_${port}=${session}\r\nConnection: close\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(403);
    const request = await mitm.waitFor('http-request', (e) => e.url.startsWith(`http://127.0.0.1:${port}/?token=`));
    await mitm.waitFor('http-response', (e) => e.id === request.id);
    await mitm.store.flush();
    const recorded = JSON.stringify(mitm.events);
    expect(recorded).not.toContain(token);
    expect(recorded).not.toContain(session);
    expect(request.url).toBe(`http://127.0.0.1:${port}/?token=[mitmlab live-view token]`);
    expect(request.headers).toContainEqual(['X-Mitmlab-Token', '[mitmlab live-view token]']);
  });

  it('hides the token in a WebSocket opened through the proxy too (ws-open, and so the HAR entry)', async () => {
    const origin = await startOrigin();
    try {
      const token = mitm.token!;
      const authority = `127.0.0.1:${origin.port}`;
      const socket = net.connect(mitm.proxyPort, '127.0.0.1');
      const head = await new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (text.includes('\r\n\r\n')) resolve(text);
        });
        socket.write(`GET http://${authority}/ws?token=${token} HTTP/1.1\r\nHost: ${authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
      });
      expect(statusOf(head)).toBe(101);
      const opened = await mitm.waitFor('ws-open', (e) => e.url.startsWith(`ws://${authority}/ws?token=`));
      expect(opened.url).toBe(`ws://${authority}/ws?token=[mitmlab live-view token]`);
      socket.destroy();
      expect(JSON.stringify(mitm.events)).not.toContain(token);
    } finally {
      await origin.close();
    }
  });

  it('with --no-ui, hides the token of the data dir all the same (the next start with the live view accepts it)', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-noui-'));
    const token = 'x'.repeat(20) + '-NoUiToken_0123456789';
    await writeFile(path.join(dataDir, 'ui-token'), `${token}\n`, { mode: 0o600 });
    const origin = await startOrigin();
    const headless = await startMitmlab({ ui: false, dataDir });
    try {
      const authority = `127.0.0.1:${origin.port}`;
      const response = await rawExchange(headless.proxyPort, `GET http://${authority}/hello?token=${token} HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
      expect(statusOf(response)).toBe(200);
      const request = await headless.waitFor('http-request', (e) => e.url.includes('/hello?token='));
      expect(request.url).toBe(`http://${authority}/hello?token=[mitmlab live-view token]`);
    } finally {
      await headless.close();
      await origin.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('would be refused by the hub itself: a proxied Host never matches, even with the token', async () => {
    const port = mitm.uiPort!;
    expect((await hubGet('/api/sessions', { host: `127.0.0.1:${port}`, 'x-mitmlab-token': mitm.token! })).status).toBe(200);
    const proxiedName = await hubGet('/api/sessions', { host: `ui.lab.test:${port}`, 'x-mitmlab-token': mitm.token! });
    expect(proxiedName.status).toBe(403);
    expect(proxiedName.body).toMatch(/DNS rebinding/);
  });
});
