// A host under an origin certificate mitmlab has already met on that port gets the browser's handshake at once,
// while the origin's runs alongside; requests still wait for the origin's outcome. A slow TCP forwarder in front of
// the real origin makes "before the origin answered" observable as event order, without timing assertions.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectTunnel, requestOver } from '../helpers/proxy-client.js';

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'].map((label) => `${label}.wild.test`);
let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;
let ca: string;
/** What the forwarder does with the next connections: pass through, after a pause, or hang up after it. */
const forward = { delayMs: 0, hangUp: false };
let forwarder: net.Server;
let port = 0;
const held = new Set<net.Socket>();

beforeAll(async () => {
  pki = await createTestPki({ names: ['origin.test'] });
  const wildcard = await pki.issue({ names: ['*.wild.test'], name: 'wildcard' });
  origin = await startOrigin({ cert: wildcard.certPem, key: wildcard.keyPem });
  forwarder = net.createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pause();
    const { delayMs, hangUp } = forward;
    setTimeout(() => {
      if (hangUp) return void socket.destroy();
      const upstream = net.connect(origin.port, '127.0.0.1');
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
      socket.resume();
    }, delayMs);
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  port = (forwarder.address() as net.AddressInfo).port;
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: NAMES.map((name) => `${name}:127.0.0.1`) });
  ca = await readFile(mitm.caPath, 'utf8');
});

afterAll(async () => {
  await mitm?.close();
  for (const socket of held) socket.destroy();
  await new Promise<void>((resolve) => (forwarder ? forwarder.close(() => resolve()) : resolve()));
  await origin?.close();
});

/** The tls-established legs of one connection, in the order they were emitted. */
function legOrder(conn: string): string[] {
  return mitm.ofType('tls-established').filter((e) => e.conn === conn).map((e) => e.leg);
}

async function contact(name: string) {
  const before = mitm.ofType('connect').length;
  const raw = await connectTunnel(mitm.proxyPort, `${name}:${port}`);
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const secure = tls.connect({ socket: raw, servername: name, ca }, () => resolve(secure));
    secure.once('error', reject);
  });
  const conn = mitm.ofType('connect').slice(before).find((e) => e.host === name)!.conn;
  // What mitmlab had recorded when the browser's handshake completed.
  const legsAtSecure = legOrder(conn);
  const eventsAtSecure = mitm.events.filter((e) => 'conn' in e && e.conn === conn).map((e) => e.type);
  return { socket, raw, conn, legsAtSecure, eventsAtSecure, san: new X509Certificate(socket.getPeerX509Certificate()!.raw).subjectAltName };
}

describe('the browser handshake runs alongside the origin one', () => {
  it('waits for the origin at first; a sibling under the same wildcard is answered before the origin is', async () => {
    forward.delayMs = 0;
    const first = await contact(NAMES[0]!);
    // Nothing known yet: the origin's names decide the certificate, so the origin came first.
    expect(first.legsAtSecure).toEqual(['upstream']);
    expect(first.san).toBe('DNS:*.wild.test');
    expect((await requestOver(first.socket, '/hello', NAMES[0]!)).status).toBe(200);
    expect(legOrder(first.conn)).toEqual(['upstream', 'client']);
    first.socket.destroy();

    forward.delayMs = 400;
    const sibling = await contact(NAMES[1]!);
    expect(sibling.legsAtSecure).not.toContain('upstream');
    expect(sibling.san).toBe('DNS:*.wild.test');
    // The request waits for the origin, then goes through it.
    const response = await requestOver(sibling.socket, '/hello', NAMES[1]!);
    expect(response.status).toBe(200);
    expect(response.body).toBe('hello from origin\n');
    expect(legOrder(sibling.conn)).toEqual(['client', 'upstream']);
    const certificates = await mitm.waitFor('tls-certificates', (e) => e.conn === sibling.conn);
    expect(certificates.forged[0]!.san).toEqual(['DNS:*.wild.test']);
    expect(certificates.verification.trusted).toBe(true);
    sibling.socket.destroy();
  });

  it('an origin that fails after the early handshake still gets its failure answered to the request', async () => {
    forward.delayMs = 200;
    forward.hangUp = true;
    try {
      const early = await contact(NAMES[2]!);
      expect(early.eventsAtSecure).not.toContain('tls-failed');
      const response = await requestOver(early.socket, '/hello', NAMES[2]!);
      expect(response.status).toBe(502);
      expect(response.body).toContain(NAMES[2]!);
      const failed = await mitm.waitFor('tls-failed', (e) => e.conn === early.conn && e.leg === 'upstream');
      expect(failed.message).toContain(NAMES[2]!);
      early.socket.destroy();
    } finally {
      forward.hangUp = false;
    }
  });

  it('a client that leaves before the origin answers is reported, and the origin connection is closed', async () => {
    forward.delayMs = 400;
    const early = await contact(NAMES[3]!);
    expect(early.legsAtSecure).not.toContain('upstream');
    early.socket.end();
    const failed = await mitm.waitFor('tls-failed', (e) => e.conn === early.conn && e.leg === 'client');
    expect(failed.cause).toBe('closed-after-handshake');
    // The origin leg was reached afterwards and then closed (its transcript comes when its socket closes).
    await mitm.waitFor('tls-transcript', (e) => e.conn === early.conn && e.leg === 'upstream', 5_000);
    expect(legOrder(early.conn)).toEqual(['client', 'upstream']);
  });

  it('a request waiting for the origin counts as use: a reset then is not reported as a silent rejection', async () => {
    forward.delayMs = 800;
    const early = await contact(NAMES[5]!);
    expect(early.legsAtSecure).not.toContain('upstream');
    early.socket.write(`GET /hello HTTP/1.1\r\nHost: ${NAMES[5]}\r\n\r\n`);
    await sleep(150); // the request reaches mitmlab and waits there for the origin
    early.raw.resetAndDestroy();
    await mitm.waitFor('tls-transcript', (e) => e.conn === early.conn && e.leg === 'client');
    await mitm.bus.flushed();
    expect(mitm.ofType('tls-failed').filter((e) => e.conn === early.conn && e.leg === 'client')).toEqual([]);
  });
});
