// The store and exports against the real proxy: a session with HTTPS GET and POST, a binary body, a gzip body, a
// wss exchange and a refused handshake, exported to HAR (checked by har-validator) and pcapng (checked by tshark,
// decrypting both legs with the embedded secrets alone); and a failing disk that never stops the proxy.

import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ProxyEvent } from '../../server/protocol/events.js';
import { exportSession } from '../../server/store/export.js';
import type { HarEntry } from '../../server/store/har-entry.js';
import { eventShapeProblem } from '../../server/protocol/event-shape.js';
import { SessionStore } from '../../server/store/session-store.js';
import { loadSession } from '../../server/store/sessions.js';
import { curl } from '../helpers/curl.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { connectTunnel, requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { requireTools } from '../helpers/tools.js';
import { failingFs } from '../unit/store/failing-fs.js';

const harValidator = createRequire(import.meta.url)('har-validator') as { har(data: unknown): Promise<unknown> };
const HOST = 'origin.test';
const haveTools = requireTools('curl', 'tshark');

let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;
let caPem: string;

interface Har {
  log: { entries: HarEntry[]; _tlsErrors: Array<{ leg: string; host: string; cause: string; message: string; time: string }> };
}
let har: Har;
let pcapng: string;
const conns: string[] = [];

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST, '127.0.0.1'] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  // Each connection with its own origin connection (--no-origin-reuse), so that the pcapng holds both legs of each;
  // test/integration/origin-pool.test.ts exports a session with a reused one.
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], originReuse: false });
  caPem = await readFile(mitm.caPath, 'utf8');
  if (!haveTools) return;
  const authority = `${HOST}:${origin.port}`;

  // Connection 1: keep-alive HTTPS with GET, POST, a binary body and a gzip body.
  const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority, servername: HOST, ca: caPem });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agent.createConnection = () => socket;
  expect((await requestOver(socket, '/hello', authority, { agent })).status).toBe(200);
  expect((await requestOver(socket, '/echo', authority, { agent, method: 'POST', body: 'user=alice&password=hunter2' })).status).toBe(200);
  expect((await requestOver(socket, '/binary', authority, { agent })).status).toBe(200);
  expect((await requestOver(socket, '/gzip', authority, { agent })).status).toBe(200);
  socket.end();

  // Connection 2: a wss echo.
  const tunnel = await connectTunnel(mitm.proxyPort, authority);
  const ws = new WebSocket(`wss://${authority}/ws`, ['chat'], { createConnection: () => tls.connect({ socket: tunnel, servername: HOST, ca: caPem }) });
  await new Promise<void>((resolve, reject) => {
    let n = 0;
    ws.on('message', () => {
      n++;
      if (n === 1) ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      if (n === 2) resolve();
    });
    ws.once('error', reject);
  });
  ws.close(1000, 'done');
  await mitm.waitFor('ws-close');

  // Connection 3: curl does not trust the lab CA and refuses the handshake.
  const refused = await curl(`https://${authority}/hello`, { proxy: mitm.proxyUrl });
  expect(refused.code).toBe(60); // curl: peer certificate cannot be authenticated with known CA certificates
  await mitm.waitFor('tls-failed', (e) => e.leg === 'client');

  // Every leg's transcript is emitted when the leg closes.
  for (const event of mitm.ofType('connection-open')) conns.push(event.conn);
  expect(conns).toHaveLength(3);
  // The refused connection's upstream leg may still be open (see 'one ClientHello per leg'): not waited for.
  for (const [conn, legs] of [[conns[0], ['client', 'upstream']], [conns[1], ['client', 'upstream']], [conns[2], ['client']]] as const) {
    for (const leg of legs) await mitm.waitFor('tls-transcript', (e) => e.conn === conn && e.leg === leg);
  }
  // Responses are emitted once their bodies are decoded, possibly after the connection closed.
  for (const request of mitm.ofType('http-request')) await mitm.waitFor('http-response', (e) => e.id === request.id);
  await mitm.store.flush();

  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  await exportSession({ dataDir: mitm.store.dataDir, session: mitm.store.id, format: 'har' }, out);
  har = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Har;

  pcapng = join(mitm.dir, 'session.pcapng');
  const file = createWriteStream(pcapng);
  await exportSession({ dataDir: mitm.store.dataDir, session: 'latest', format: 'pcapng' }, file);
  await new Promise<void>((resolve) => file.end(resolve));
}, 60_000);

afterAll(async () => {
  await mitm?.close();
  await origin?.close();
  await pki?.dispose();
});

function entry(path: string): HarEntry {
  const found = har.log.entries.find((e) => new URL(e.request.url).pathname === path);
  if (!found) throw new Error(`no HAR entry for ${path}: ${har.log.entries.map((e) => e.request.url).join(', ')}`);
  return found;
}

function tshark(...args: string[]): string[] {
  return execFileSync('tshark', ['-r', pcapng, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .filter((line) => line.trim() !== '');
}

describe.skipIf(!haveTools)('a real session exported', () => {
  it('recorded only events of the shape the readers check (none would be skipped on load)', () => {
    const problems = mitm.events.map((e) => eventShapeProblem(e.type, e as unknown as Record<string, unknown>)).filter((p) => p !== null);
    expect(problems).toEqual([]);
    expect(new Set(mitm.events.map((e) => e.type)).size).toBeGreaterThan(12);
  });

  it('is a HAR 1.2 document har-validator accepts', async () => {
    await expect(harValidator.har(har)).resolves.toBeTruthy();
    expect(har.log.entries.map((e) => `${e.request.method} ${new URL(e.request.url).pathname}`)).toEqual([
      'GET /hello',
      'POST /echo',
      'GET /binary',
      'GET /gzip',
      'GET /ws',
    ]);
  });

  it('has request and response bodies: text, form data, base64 binary, decoded gzip', () => {
    expect(entry('/hello').response.content).toMatchObject({ mimeType: 'text/plain', text: 'hello from origin\n', size: 18 });
    expect(entry('/echo').request.postData).toMatchObject({
      mimeType: 'application/x-www-form-urlencoded',
      text: 'user=alice&password=hunter2',
      // As Chrome lists a form's fields (HAR 1.2 §postData params).
      params: [
        { name: 'user', value: 'alice' },
        { name: 'password', value: 'hunter2' },
      ],
    });
    expect(JSON.parse(entry('/echo').response.content.text!)).toMatchObject({ method: 'POST', length: 27 });
    const binary = entry('/binary').response.content;
    expect(binary.encoding).toBe('base64');
    expect(Buffer.from(binary.text!, 'base64')).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    const gzip = entry('/gzip');
    expect(JSON.parse(gzip.response.content.text!)).toMatchObject({ compressed: true });
    expect(gzip.response.content.compression).toBeGreaterThan(0);
    expect(gzip.response.bodySize).toBeLessThan(gzip.response.content.size);
    expect(gzip.response.headers).toContainEqual({ name: 'content-encoding', value: 'gzip' });
  });

  it('has timings that add up', () => {
    for (const e of har.log.entries.filter((x) => x._resourceType !== 'websocket')) {
      const t = e.timings;
      expect(t.send).toBeGreaterThanOrEqual(0);
      expect(t.wait).toBeGreaterThanOrEqual(0);
      expect(t.receive).toBeGreaterThanOrEqual(0);
      expect(e.time).toBeCloseTo([t.blocked, t.dns, t.connect, t.send, t.wait, t.receive].filter((v) => v >= 0).reduce((a, b) => a + b, 0), 6);
    }
  });

  it('describes both TLS legs of each entry', async () => {
    const e = entry('/hello');
    const established = mitm.ofType('tls-established').filter((x) => x.conn === conns[0]);
    const hello = mitm.ofType('tls-client-hello').find((x) => x.conn === conns[0] && x.leg === 'client')!;
    for (const leg of ['client', 'upstream'] as const) {
      const facts = established.find((x) => x.leg === leg)!;
      expect(e._tls[leg]).toMatchObject({ version: facts.version, cipher: facts.cipher, alpn: facts.alpn });
      expect(e._tls[leg]!.cipher).toMatch(/^TLS_/);
      expect(e._tls[leg]!.ja3).toMatch(/^[0-9a-f]{32}$/);
      expect(e._tls[leg]!.ja4).toMatch(/^t1[23]d/);
      expect(e._tls[leg]!.clientHello!.cipherSuites.length).toBeGreaterThan(0);
      expect(e._tls[leg]!.certificates.length).toBeGreaterThan(0);
    }
    expect(e._tls.client!.sni).toBe(HOST);
    expect(e._tls.client!.ja3).toBe(hello.fingerprints.ja3Hash);
    expect(e._tls.client!.clientHello!.extensions).toEqual(hello.hello.extensions.map((x) => x.type));
    expect(e._tls.client!.certificates[0]!.issuer).toContain('mitmlab');
    const hex = (fingerprint: string) => fingerprint.replaceAll(':', '').toLowerCase();
    expect(hex(e._tls.upstream!.certificates[0]!.sha256)).toBe(hex(new (await import('node:crypto')).X509Certificate(pki.valid.certPem).fingerprint256));
    expect(e._tls.upstream!.verification).toMatchObject({ trusted: true, insecureAllowed: false });
    expect(e._tls.client).not.toHaveProperty('verification');
  });

  it('has the WebSocket frames in Chrome\'s shape', () => {
    const ws = entry('/ws');
    expect(ws.response.status).toBe(101);
    expect(ws._webSocketMessages!.map((m) => [m.type, m.opcode, m.data])).toEqual([
      ['receive', 1, 'hello chat'],
      ['send', 2, Buffer.from([0xde, 0xad, 0xbe, 0xef]).toString('base64')],
      ['receive', 2, Buffer.from([0xde, 0xad, 0xbe, 0xef]).toString('base64')],
    ]);
    for (const m of ws._webSocketMessages!) expect(m.time).toBeGreaterThan(1.7e9);
  });

  it('lists the refused handshake in _tlsErrors', () => {
    const failed = mitm.ofType('tls-failed').find((e) => e.leg === 'client')!;
    expect(har.log._tlsErrors).toContainEqual(
      expect.objectContaining({ leg: 'client', host: HOST, cause: failed.cause, message: failed.message, time: new Date(failed.at).toISOString() }),
    );
    expect(failed.cause).toBe('cert-rejected');
  });

  it('decrypts in tshark on both legs with only the embedded secrets', () => {
    const requests = tshark('-Y', 'http.request', '-T', 'fields', '-e', 'tcp.stream', '-e', 'http.request.method', '-e', 'http.request.uri');
    const byStream = new Map<string, string[]>();
    for (const line of requests) {
      const [stream, method, uri] = line.split('\t');
      byStream.set(stream!, [...(byStream.get(stream!) ?? []), `${method} ${uri}`]);
    }
    const lists = [...byStream.values()].map((list) => list.join(', '));
    // Each intercepted connection appears twice: the client leg and the upstream leg.
    expect(lists.filter((l) => l === 'GET /hello, POST /echo, GET /binary, GET /gzip')).toHaveLength(2);
    expect(lists.filter((l) => l === 'GET /ws')).toHaveLength(2);
    expect(tshark('-Y', 'websocket')).not.toEqual([]);
  });

  it('has one ClientHello per leg per connection', () => {
    const hellos = tshark('-Y', 'tls.handshake.type == 1', '-T', 'fields', '-e', 'tcp.stream');
    // A leg is in the pcapng once its transcript was emitted (when the leg closed).
    const legs = mitm.ofType('tls-transcript').filter((e) => e.rawIn || e.rawOut);
    for (const conn of conns.slice(0, 2)) expect(legs.filter((e) => e.conn === conn).map((e) => e.leg).sort()).toEqual(['client', 'upstream']);
    expect(legs.some((e) => e.conn === conns[2] && e.leg === 'client')).toBe(true);
    expect(hellos).toHaveLength(legs.length);
    expect(new Set(hellos).size).toBe(legs.length);
  });

  it('reloads the session from disk in full', async () => {
    const session = await loadSession(mitm.store.dataDir, mitm.store.id);
    const reader = await session.open();
    const stored: ProxyEvent[] = [];
    for await (const event of reader.events) stored.push(event);
    const seen = mitm.events.filter((e) => e.at <= stored.at(-1)!.at);
    expect(stored.length).toBeGreaterThanOrEqual(seen.length - 5);
    expect(stored.map((e) => e.type)).toEqual(mitm.events.slice(0, stored.length).map((e) => e.type));
  });
});

describe.skipIf(!haveTools)('a failing disk', () => {
  it('never stops the proxy: store-error is emitted, and nothing recorded before or during is lost', async () => {
    const { fs, control } = failingFs();
    const shadow = await SessionStore.open({ dataDir: join(mitm.dir, 'failing'), fs, onWarning: () => {} });
    shadow.attach(mitm.bus);
    const before = await curl(`https://${HOST}:${origin.port}/hello?phase=before`, { proxy: mitm.proxyUrl, cacert: mitm.caPath });
    expect(before.status).toBe(200);
    await shadow.flush();
    control.code = 'ENOSPC';
    const during = await curl(`https://${HOST}:${origin.port}/hello?phase=during`, { proxy: mitm.proxyUrl, cacert: mitm.caPath });
    expect(during.status).toBe(200);
    const error = await mitm.waitFor('store-error');
    expect(error.message).toMatch(/ENOSPC/);
    // Still serving while the disk refuses.
    const still = await curl(`https://${HOST}:${origin.port}/hello?phase=still`, { proxy: mitm.proxyUrl, cacert: mitm.caPath });
    expect(still.status).toBe(200);
    control.code = null;
    await mitm.waitFor('http-response', (e) => mitm.ofType('http-request').some((r) => r.id === e.id && r.url.endsWith('phase=still')));
    await shadow.close();
    const session = await loadSession(join(mitm.dir, 'failing'), shadow.id);
    const reader = await session.open();
    const urls: string[] = [];
    for await (const event of reader.events) if (event.type === 'http-request') urls.push(new URL(event.url).search);
    expect(urls).toEqual(['?phase=before', '?phase=during', '?phase=still']);
  });
});
