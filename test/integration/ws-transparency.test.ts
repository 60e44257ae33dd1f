// A WebSocket through mitmlab looks to each end as it would without it: the origin's 101 fields reach the browser,
// compression is what the two ends agreed, pings and unsolicited pongs reach the real peer, and a connection the
// origin drops without a close frame is dropped for the browser too (RFC 6455 §5.5, §7.1.5, §9.1).

import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { closeWsServer } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { connectTunnel } from '../helpers/proxy-client.js';
import { acceptKey, closePayload, rawUpgrade, wsFrame } from '../helpers/hostile-ws.js';
import { harEntries } from '../helpers/har.js';

const HOST = 'origin.test';
let pki: TestPki;
let mitm: TestMitmlab;
let caPem: string;

interface WsOrigin {
  port: number;
  /** The extensions header of each upgrade the origin received. */
  offered: string[];
  close(): Promise<void>;
}

/** A wss origin: answers its 101 with extra fields; /echo echoes, /abrupt drops the TCP connection, /pong-me pongs. */
async function startWsOrigin(deflate: boolean): Promise<WsOrigin> {
  const server = https.createServer({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  const wss = new WebSocketServer({ server, perMessageDeflate: deflate, autoPong: false });
  const offered: string[] = [];
  wss.on('headers', (headers) => headers.push('Set-Cookie: wsid=abc123; Path=/', 'X-Origin-Custom: yes'));
  wss.on('connection', (socket, req) => {
    offered.push(req.headers['sec-websocket-extensions'] ?? '');
    // A ping at once, before the browser's side may even be open: someone must answer it.
    socket.once('pong', (data) => pongsAtOpen.push(data.toString()));
    socket.ping('at open');
    socket.on('ping', (data) => socket.pong(Buffer.concat([Buffer.from('origin:'), data])));
    socket.on('pong', (data) => socket.send(`got pong ${data.toString()}`));
    socket.on('message', (data) => {
      const text = data.toString();
      if (text === 'drop') socket.terminate();
      else if (text === 'pong-me') socket.pong(Buffer.from('heartbeat'));
      else socket.send(`echo: ${text}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    offered,
    close: () => closeWsServer(wss, server),
  };
}

/** Answers the origins got to the ping they send as soon as a WebSocket opens. */
const pongsAtOpen: string[] = [];
let withDeflate: WsOrigin;
let withoutDeflate: WsOrigin;

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST] });
  withDeflate = await startWsOrigin(true);
  withoutDeflate = await startWsOrigin(false);
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
  caPem = await readFile(mitm.caPath, 'utf8');
});

afterAll(async () => {
  await mitm?.close();
  await withDeflate?.close();
  await withoutDeflate?.close();
});

/** Opens a wss:// WebSocket to the origin through mitmlab; resolves with it and its 101's headers once open. */
async function open(origin: WsOrigin, options: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; headers: Record<string, string | string[] | undefined> }> {
  const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${origin.port}`);
  const ws = new WebSocket(`wss://${HOST}:${origin.port}/`, { autoPong: false, ...options, createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca: caPem }) });
  let headers: Record<string, string | string[] | undefined> = {};
  ws.once('upgrade', (response) => (headers = response.headers));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, headers };
}

const next = <T>(ws: WebSocket, event: 'message' | 'pong' | 'close'): Promise<T> => new Promise((resolve) => ws.once(event, (...args: unknown[]) => resolve((event === 'close' ? args : args[0]) as T)));

describe('a WebSocket through mitmlab', () => {
  it("passes on the origin's own 101 fields", async () => {
    const { ws, headers } = await open(withDeflate);
    expect(headers['set-cookie']).toEqual(['wsid=abc123; Path=/']);
    expect(headers['x-origin-custom']).toBe('yes');
    ws.close();
  });

  it("exposes the handshake's credentials as any request's: the cookie and bearer token sent, the cookie set", async () => {
    const { ws } = await open(withDeflate, { headers: { Cookie: 'shop_session=s3cr3t', Authorization: 'Bearer tok-123' } });
    const opened = mitm.ofType('ws-open').at(-1)!;
    const found = async (location: string) =>
      (await mitm.waitFor('secrets-found', (e) => e.id === opened.id && e.secrets.some((secret) => secret.location === location))).secrets;
    const sent = await found('request-header');
    expect(sent.map((secret) => [secret.kind, secret.value])).toEqual(expect.arrayContaining([['cookie', 's3cr3t'], ['bearer', 'tok-123']]));
    const set = await found('response-header');
    expect(set.map((secret) => secret.value)).toContain('abc123');
    expect(mitm.store.flows().find((f) => f.id === opened.id)?.flags.secret).toBe(true);
    ws.close();
  });

  it('exposes a password sent in a JSON message, and reads no other text as one', async () => {
    const { ws } = await open(withDeflate);
    const opened = mitm.ofType('ws-open').at(-1)!;
    ws.send('{"op":"login","user":"ada","password":"hunter2"}');
    await next<Buffer>(ws, 'message');
    ws.send('plain chat line, password not in JSON');
    await next<Buffer>(ws, 'message');
    const found = await mitm.waitFor('secrets-found', (e) => e.id === opened.id && e.secrets.some((secret) => secret.location === 'ws-send'));
    expect(found.secrets).toEqual([{ kind: 'json-field', name: 'password', value: 'hunter2', location: 'ws-send' }]);
    // Once: not in the echo ("echo: {…}" is not JSON), nor in the chat line. (The origin's Set-Cookie is found too.)
    const inMessages = mitm.ofType('secrets-found').filter((e) => e.id === opened.id && e.secrets.some((secret) => secret.location.startsWith('ws-')));
    expect(inMessages).toHaveLength(1);
    ws.close();
  });

  it('uses compression only when both ends would have: the browser offered it and the origin took it', async () => {
    const offeredBefore = withDeflate.offered.length;
    const plain = await open(withDeflate, { perMessageDeflate: false });
    expect(plain.ws.extensions).toBe('');
    expect(withDeflate.offered[offeredBefore]).toBe(''); // nothing offered upstream either
    plain.ws.close();

    const refused = await open(withoutDeflate, { perMessageDeflate: true });
    expect(refused.ws.extensions).toBe('');
    refused.ws.close();

    const agreed = await open(withDeflate, { perMessageDeflate: true });
    expect(agreed.ws.extensions).toMatch(/^permessage-deflate/);
    agreed.ws.send('compressed hello');
    expect(String(await next<Buffer>(agreed.ws, 'message'))).toBe('echo: compressed hello');
    agreed.ws.close();
  });

  it("answers the origin's ping sent at once, before the browser's side is open", async () => {
    const before = pongsAtOpen.length;
    // A browser answers pings itself.
    const { ws } = await open(withoutDeflate, { autoPong: true });
    await expect.poll(() => pongsAtOpen.length).toBe(before + 1);
    expect(pongsAtOpen.at(-1)).toBe('at open');
    ws.close();
  });

  it('relays pings to the origin, which answers them, and unsolicited pongs both ways, and records them', async () => {
    const { ws } = await open(withoutDeflate);
    const opened = mitm.ofType('ws-open').at(-1)!;
    const pong = next<Buffer>(ws, 'pong');
    ws.ping(Buffer.from('are you there'));
    // The pong comes from the origin itself, not from mitmlab.
    expect(String(await pong)).toBe('origin:are you there');
    const echoed = next<Buffer>(ws, 'message');
    ws.pong(Buffer.from('client heartbeat'));
    expect(String(await echoed)).toBe('got pong client heartbeat');
    const heartbeat = next<Buffer>(ws, 'pong');
    ws.send('pong-me');
    expect(String(await heartbeat)).toBe('heartbeat');
    // A ping without payload, as browsers' heartbeats often are.
    const answered = next<Buffer>(ws, 'pong');
    ws.ping();
    expect(String(await answered)).toBe('origin:');
    ws.close();
    await mitm.waitFor('ws-close', (e) => e.id === opened.id);

    // Each control frame is on record as it crossed, in order, with its payload (base64; RFC 6455 §5.5.2, §5.5.3).
    const frames = mitm.ofType('ws-message').filter((m) => m.id === opened.id);
    const seen = frames.map((m) => [m.direction, m.opcode, m.opcode === 1 ? m.data : Buffer.from(m.data, 'base64').toString()]);
    // The origin's ping at open is relayed (and recorded) when it comes after the browser's side is open; before, mitmlab
    // answers it itself and it is not part of the exchange.
    const afterOpen = seen[0]?.[2] === 'at open' ? seen.slice(1) : seen;
    expect(afterOpen).toEqual([
      ['send', 9, 'are you there'],
      ['receive', 10, 'origin:are you there'],
      ['send', 10, 'client heartbeat'],
      ['receive', 1, 'got pong client heartbeat'],
      ['send', 1, 'pong-me'],
      ['receive', 10, 'heartbeat'],
      ['send', 9, ''],
      ['receive', 10, 'origin:'],
    ]);
    expect(frames.every((m) => m.size === Buffer.from(m.data, m.opcode === 1 ? 'utf8' : 'base64').length && !m.truncated)).toBe(true);
    // The flow row counts the two messages, not the control frames.
    expect(mitm.store.flows().find((f) => f.id === opened.id)?.wsMessages).toBe(2);
    // The HAR lists them all, in Chrome's shape.
    const entry = (await harEntries(mitm)).find((e) => e._flowId === opened.id)!;
    expect(entry._webSocketMessages?.map((m) => [m.type, m.opcode])).toEqual(seen.map(([direction, opcode]) => [direction, opcode]));
  });

  it('drops the browser side without a close frame when the origin drops its side (1006, not a clean close)', async () => {
    const { ws } = await open(withoutDeflate);
    const closed = next<[number, Buffer]>(ws, 'close');
    ws.send('drop');
    const [code] = await closed;
    expect(code).toBe(1006);
    const event = await mitm.waitFor('ws-close', (e) => e.code === 1006);
    expect(event.by).toBe('server');
  });

  it("answers the browser at once when the origin's 101 is not a valid WebSocket handshake", async () => {
    // A TLS origin that answers every upgrade with a wrong Sec-WebSocket-Accept (RFC 6455 §4.2.2).
    const bad = tls.createServer({ cert: pki.valid.certPem, key: pki.valid.keyPem }, (socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n'));
    });
    await new Promise<void>((resolve) => bad.listen(0, '127.0.0.1', resolve));
    try {
      const port = (bad.address() as AddressInfo).port;
      const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${port}`);
      const ws = new WebSocket(`wss://${HOST}:${port}/`, { createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca: caPem }) });
      const status = await new Promise<number>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => reject(new Error('opened')));
        ws.once('error', reject);
      });
      expect(status).toBe(502);
      const failure = await mitm.waitFor('proxy-error', (e) => e.status === 502 && e.message.includes(`${port}`));
      expect(failure.message).toMatch(/Sec-WebSocket-Accept/i);
      // The origin was reached and answered: not "unreachable", and no TLS handshake failed.
      expect(failure.code).toBe('upstream-bad-response');
      expect(failure.message).toMatch(/answered the WebSocket upgrade with 101, but its answer is invalid/);
      expect(failure.message).not.toMatch(/TLS handshake/);
    } finally {
      await new Promise((resolve) => bad.close(resolve));
    }
  });

  it('notices a browser that closes its side while the origin has not answered the upgrade, and closes its connection', async () => {
    // A TLS origin that never answers an upgrade; it counts its open connections.
    let open = 0;
    const sockets = new Set<tls.TLSSocket>();
    const silent = tls.createServer({ cert: pki.valid.certPem, key: pki.valid.keyPem }, (socket) => {
      open++;
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => open--);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${port}`);
      const client = tls.connect({ socket: tunnel, servername: HOST, ca: caPem });
      await new Promise((resolve) => client.once('secureConnect', resolve));
      client.write(`GET /never HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      const request = await mitm.waitFor('http-request', (e) => e.url.endsWith(`:${port}/never`), 5_000);
      await expect.poll(() => open).toBe(1);
      // FIN only: the browser gave up waiting. mitmlab records it and closes the browser's connection (it was left
      // half-open, in CLOSE-WAIT, until mitmlab stopped).
      const closed = new Promise((resolve) => client.once('close', resolve));
      client.end();
      const outcome = await mitm.waitFor('proxy-error', (e) => e.id === request.id, 5_000);
      expect(outcome.code).toBe('client-aborted');
      await closed;
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('survives browsers that send an upgrade and close at once, before the origin is even reached', async () => {
    // A plain ws:// origin (absolute form through the proxy).
    const plain = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => plain.once('listening', resolve));
    try {
      const authority = `127.0.0.1:${(plain.address() as AddressInfo).port}`;
      for (let i = 0; i < 40; i++) {
        const socket = net.connect({ host: '127.0.0.1', port: mitm.proxyPort });
        socket.on('error', () => {});
        await new Promise((resolve) => socket.once('connect', resolve));
        // The upgrade and the FIN in one go.
        socket.end(`GET http://${authority}/at-once-${i} HTTP/1.1\r\nHost: ${authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        await new Promise((resolve) => socket.once('close', resolve));
      }
      // Each got an outcome, and the proxy still serves.
      for (let i = 0; i < 40; i++) {
        const request = await mitm.waitFor('http-request', (e) => e.url.endsWith(`/at-once-${i}`));
        await mitm.waitFor('proxy-error', (e) => e.id === request.id);
      }
      const { ws } = await open(withoutDeflate);
      ws.send('still here');
      expect(await next<Buffer>(ws, 'message')).toEqual(Buffer.from('echo: still here'));
      ws.close();
    } finally {
      for (const client of plain.clients) client.terminate();
      await new Promise((resolve) => plain.close(resolve));
    }
  });
});

/** A wss origin that records the close code each of its WebSockets ends with (1006: no close frame came). */
async function startClosingOrigin(deflate = false): Promise<{ port: number; codes: number[]; opened: Promise<void>; close(): Promise<void> }> {
  const server = https.createServer({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  const wss = new WebSocketServer({ server, perMessageDeflate: deflate });
  const codes: number[] = [];
  let markOpen!: () => void;
  const opened = new Promise<void>((resolve) => (markOpen = resolve));
  wss.on('connection', (socket) => {
    socket.on('error', () => {});
    socket.on('close', (code) => codes.push(code));
    markOpen();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    codes,
    opened,
    close: () => closeWsServer(wss, server),
  };
}

/** Polls until `check` holds (bounded), for what another process or socket does on its own time. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  expect(check(), what).toBe(true);
}

describe('mitmlab closing a WebSocket itself', () => {
  // Regression (fixed): a peer that broke the protocol was recorded as a plain "1006 by client", and the other peer
  // was dropped without a close frame.
  it('a browser frame with a reserved opcode: both peers get 1002, and the record says mitmlab closed, and why', async () => {
    const origin = await startClosingOrigin();
    try {
      const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${origin.port}`);
      const client = tls.connect({ socket: tunnel, servername: HOST, ca: caPem });
      await new Promise((resolve) => client.once('secureConnect', resolve));
      const { head } = await rawUpgrade(client as unknown as net.Socket, '/bad', HOST);
      expect(head).toMatch(/^HTTP\/1\.1 101/);
      await origin.opened;
      let received = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
      client.write(wsFrame({ opcode: 0x3, mask: true, payload: Buffer.from('reserved') }));
      await until(() => received.length >= 4, 'the browser got a close frame');
      expect(received[0]).toBe(0x88);
      expect(received.readUInt16BE(2)).toBe(1002);
      await until(() => origin.codes.length > 0, 'the origin saw its WebSocket close');
      expect(origin.codes).toEqual([1002]);
      const closed = await mitm.waitFor('ws-close', (e) => e.code === 1002);
      expect(closed.by).toBe('mitmlab');
      const error = await mitm.waitFor('proxy-error', (e) => e.id === closed.id);
      expect(error.code).toBe('bad-request');
      expect(error.message).toMatch(/The browser broke the WebSocket protocol \(.*opcode.*\)/i);
      // The flow ends failed, with the reason (the error follows the close in the record).
      const row = mitm.store.index.flows.get(closed.id);
      expect(row).toMatchObject({ state: 'failed', error: error.message });
      client.destroy();
    } finally {
      await origin.close();
    }
  });

  // Found in review: the code was guessed from ws's error name, and a corrupt compressed frame (a zlib error, 1007
  // from ws) still ended as a bare 1006 for the origin.
  it('a corrupt compressed frame from the browser: both peers get the 1007 ws sent, and it is recorded', async () => {
    const origin = await startClosingOrigin(true);
    try {
      const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${origin.port}`);
      const client = tls.connect({ socket: tunnel, servername: HOST, ca: caPem });
      await new Promise((resolve) => client.once('secureConnect', resolve));
      const { head } = await rawUpgrade(
        client as unknown as net.Socket,
        '/deflate',
        HOST,
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n',
      );
      expect(head).toMatch(/sec-websocket-extensions: permessage-deflate/i);
      await origin.opened;
      let received = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
      const frame = wsFrame({ opcode: 0x1, mask: true, payload: Buffer.from('this is not deflate data at all') });
      frame[0] = frame[0]! | 0x40; // RSV1: the payload is compressed (RFC 7692 §6)
      client.write(frame);
      await until(() => received.length >= 4, 'the browser got a close frame');
      expect(received[0]).toBe(0x88);
      expect(received.readUInt16BE(2)).toBe(1007);
      await until(() => origin.codes.length > 0, 'the origin saw its WebSocket close');
      expect(origin.codes).toEqual([1007]);
      const closed = await mitm.waitFor('ws-close', (e) => e.code === 1007);
      expect(closed.by).toBe('mitmlab');
      client.destroy();
    } finally {
      await origin.close();
    }
  });

  // Regression (fixed): a stop dropped every WebSocket without a close frame, recorded as 1006 by one peer.
  it('a stop sends both peers 1001 (going away), recorded as mitmlab\'s close', async () => {
    const origin = await startClosingOrigin();
    const own = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
    try {
      const ownCa = await readFile(own.caPath, 'utf8');
      const tunnel = await connectTunnel(own.proxyPort, `${HOST}:${origin.port}`);
      const ws = new WebSocket(`wss://${HOST}:${origin.port}/`, { createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca: ownCa }) });
      ws.on('error', () => {});
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const clientClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      const closedEvent = own.waitFor('ws-close');
      await own.close();
      expect(await clientClosed).toBe(1001);
      await until(() => origin.codes.length > 0, 'the origin saw its WebSocket close');
      expect(origin.codes).toEqual([1001]);
      expect(await closedEvent).toMatchObject({ code: 1001, by: 'mitmlab', reason: 'mitmlab stopped' });
    } finally {
      await origin.close();
    }
  });
});

describe('what the record says of each message', () => {
  it('a text message cut at --ws-cap is cut between characters, never inside one', async () => {
    const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${withoutDeflate.port}`);
    const ws = new WebSocket(`wss://${HOST}:${withoutDeflate.port}/`, { createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca: caPem }) });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    // 1 + 2 × 40,000 bytes: a 64 KiB cut lands inside an "é" (65,536 is even, each é starts at an odd offset).
    const text = `a${'é'.repeat(40_000)}`;
    ws.send(text);
    const sent = await mitm.waitFor('ws-message', (e) => e.direction === 'send' && e.size === Buffer.byteLength(text));
    expect(sent.truncated).toBe(true);
    expect(sent.data).not.toContain('\uFFFD');
    expect(text.startsWith(sent.data)).toBe(true);
    expect(Buffer.byteLength(sent.data)).toBe(64 * 1024 - 1);
    ws.close();
  });

  it('--ws-cap applies to the payload of pings and pongs too', async () => {
    const capped = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], wsCap: 5 });
    try {
      const ca = await readFile(capped.caPath, 'utf8');
      const tunnel = await connectTunnel(capped.proxyPort, `${HOST}:${withoutDeflate.port}`);
      const ws = new WebSocket(`wss://${HOST}:${withoutDeflate.port}/`, { autoPong: false, createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca }) });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
      ws.ping(Buffer.from('are you there'));
      // Relayed whole; recorded up to the cap, with its size.
      expect(String(await pong)).toBe('origin:are you there');
      const ping = await capped.waitFor('ws-message', (e) => e.opcode === 9 && e.direction === 'send');
      expect(ping).toMatchObject({ size: 13, truncated: true, data: Buffer.from('are y').toString('base64') });
      const answer = await capped.waitFor('ws-message', (e) => e.opcode === 10 && e.direction === 'receive');
      expect(answer).toMatchObject({ size: 20, truncated: true, data: Buffer.from('origi').toString('base64') });
      ws.close();
    } finally {
      await capped.close();
    }
  });

  // Regression (fixed): ws answers a close frame at once, so the other side's messages that were still on their way
  // were recorded as relayed, though nobody got them.
  it('a message that arrives after the other side closed is recorded as not passed on', async () => {
    // A raw wss origin that, given a close frame, sends one more message before its own close.
    const origin = tls.createServer({ cert: pki.valid.certPem, key: pki.valid.keyPem }, (socket) => {
      socket.on('error', () => {});
      let buffered = Buffer.alloc(0);
      let upgraded = false;
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (!upgraded) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const key = /sec-websocket-key: *(\S+)/i.exec(buffered.subarray(0, end).toString('latin1'))?.[1] ?? '';
          socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
          upgraded = true;
          buffered = buffered.subarray(end + 4);
        }
        if (buffered.length > 0 && (buffered[0]! & 0x0f) === 0x8) {
          socket.write(wsFrame({ opcode: 0x1, payload: Buffer.from('late') }));
          socket.end(wsFrame({ opcode: 0x8, payload: closePayload(1000) }));
        }
      });
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    try {
      const port = (origin.address() as AddressInfo).port;
      const tunnel = await connectTunnel(mitm.proxyPort, `${HOST}:${port}`);
      const ws = new WebSocket(`wss://${HOST}:${port}/`, { createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca: caPem }) });
      const got: string[] = [];
      ws.on('message', (data) => got.push(data.toString()));
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      ws.close(1000, 'bye');
      const late = await mitm.waitFor('ws-message', (e) => e.direction === 'receive' && e.data === 'late');
      expect(late.undelivered).toBe(true);
      expect(got).toEqual([]);
    } finally {
      await new Promise((resolve) => origin.close(resolve));
    }
  });
});
