// Hostile input gets a clear answer, never a crash (issue 2): mitmlab runs as its own process, so a crash shows as an
// exit, and its answers and recorded events (read back from the session log) are checked case by case. Complements
// proxy-hostile.test.ts (which covers bad CONNECT targets, loops, 431 and clients that go away) without repeating it.
//
// Tests marked it.fails document a defect found here; each names the fault in the comment above it. When the core is
// fixed, the test starts passing, it.fails reports that, and the marker is removed.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { Duplex } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import tls from 'node:tls';
import { WebSocketServer } from 'ws';
import type { ProxyEvent } from '../../server/protocol/events.js';
import { startHostileCli, type HostileCli } from '../helpers/hostile-cli.js';
import { pathOf, startScriptedOrigin, startSilentOrigin, type OriginScript, type ScriptedOrigin } from '../helpers/hostile-origin.js';
import { alertRecord, captureClientHello, inflateClientHello, mutate, pick, seededRandom } from '../helpers/hostile-tls.js';
import { closePayload, rawUpgrade, startDroppingWsOrigin, wsFrame } from '../helpers/hostile-ws.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { connectTunnel, requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';
import { rawExchange, statusOf } from '../helpers/raw-http.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { requireTools } from '../helpers/tools.js';
import { curl } from '../helpers/curl.js';

const HOST = 'origin.test';
const SCRIPTED = 'scripted.test';
const SLOW = 'slow.test';
// Never used for a request: a quick unused close to it is judged on its own (intercept.ts SIBLING_WINDOW_MS).
const UNUSED = 'unused.test';

let pki: TestPki;
let tlsOrigin: Origin;
let plain: Origin;
let scripted: ScriptedOrigin;
let scriptedTls: ScriptedOrigin;
let cli: HostileCli;
let caPem: string;

/** Origin behaviours, chosen by path. Each answers one request with bytes no HTTP library would write. */
const script: OriginScript = (socket, head) => {
  switch (pathOf(head).split('?')[0]) {
    case '/garbage':
      return void socket.end('SSH-2.0-OpenSSH_9.2\r\nthis is not HTTP at all\r\n\r\n');
    case '/http09':
      return void socket.end('<html>an HTTP/0.9 answer has no status line</html>');
    case '/cl-te':
      return void socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    case '/two-cl':
      return void socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!');
    case '/mid-headers':
      return void socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/pl');
    case '/cl-longer':
      // Promises 100 bytes, sends 5, then closes: the response is cut off.
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello');
      return void setTimeout(() => socket.end(), 20);
    case '/cl-shorter':
      // Says 5 bytes and sends more: RFC 9112 §6.3 — the message ends after 5; what follows is not part of it.
      return void socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and bytes beyond Content-Length');
    case '/1xx':
      return void socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    case '/101':
      // A switch of protocols nobody asked for (RFC 9110 §15.2.2: only in answer to an Upgrade request).
      return void socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nnot http any more');
    case '/head':
      // A HEAD response must not carry content (RFC 9110 §9.3.2); this one does.
      return void socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    case '/204':
      return void socket.write('HTTP/1.1 204 No Content\r\n\r\nbody-in-a-204');
    case '/many-fields':
      // 2,100 fields in a 40 KB head: within what browsers and mitmlab accept (256 KiB), past node:http's default count.
      return void socket.write(`HTTP/1.1 200 OK\r\n${Array.from({ length: 2_100 }, (_, i) => `X-N${i}: ${i}\r\n`).join('')}Content-Length: 2\r\n\r\nok`);
    case '/304':
      return void socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\nbody');
    case '/te-gzip': {
      // A transfer coding other than chunked (RFC 9112 §7.2), which an origin should only use when asked (TE).
      const coded = gzipSync('transfer coded body');
      const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${coded.length.toString(16)}\r\n`;
      return void socket.write(Buffer.concat([Buffer.from(head), coded, Buffer.from('\r\n0\r\n\r\n')]));
    }
    case '/utf8-header': {
      // Non-ASCII field values (RFC 9110 §5.5: opaque octets): one in UTF-8, one in Latin-1 (not valid UTF-8).
      const head = Buffer.concat([
        Buffer.from('HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename="'),
        Buffer.from('naïve €.txt', 'utf8'),
        Buffer.from('"\r\nX-Latin: '),
        Buffer.from('café', 'latin1'),
        Buffer.from('\r\nContent-Length: 2\r\n\r\nok'),
      ]);
      return void socket.write(head);
    }
    case '/range-gzip': {
      // A 206 of a gzip-coded representation from its middle (RFC 9110 §14): no decoder can start there.
      const coded = gzipSync('x'.repeat(4000) + 'y'.repeat(4000)).subarray(10, 30);
      const head = `HTTP/1.1 206 Partial Content\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Range: bytes 10-29/99\r\nContent-Length: ${coded.length}\r\n\r\n`;
      return void socket.write(Buffer.concat([Buffer.from(head), coded]));
    }
    default:
      return void socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  }
};

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST, SCRIPTED, UNUSED, '127.0.0.1'] });
  tlsOrigin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  // Reads heads up to 64 KiB, so a long URL that mitmlab lets through reaches it whole.
  plain = await startOrigin({ maxHeaderSize: 64 * 1024 });
  scripted = await startScriptedOrigin(script);
  scriptedTls = await startScriptedOrigin(script, { cert: pki.valid.certPem, key: pki.valid.keyPem });
  cli = await startHostileCli([
    '--upstream-ca', pki.rootPath,
    '--resolve', `${HOST}:127.0.0.1`, '--resolve', `${SCRIPTED}:127.0.0.1`, '--resolve', `${UNUSED}:127.0.0.1`,
    '--handshake-timeout', '3000',
  ]);
  caPem = await readFile(cli.caPath, 'utf8');
});

afterAll(async () => {
  await cli?.dispose();
  await Promise.all([tlsOrigin?.close(), plain?.close(), scripted?.close(), scriptedTls?.close()]);
  await pki?.dispose();
});

// Every test ends with the process alive and serving.
afterEach(async () => {
  if (!cli) return;
  expect(cli.alive(), `mitmlab exited:\n${cli.output().slice(-3000)}`).toBe(true);
  await expectServing(cli.proxyPort);
});

/** A plain http:// request through the proxy still gets the origin's 200. */
async function expectServing(proxyPort: number): Promise<void> {
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, path: `http://127.0.0.1:${plain.port}/hello`, headers: { host: `127.0.0.1:${plain.port}` }, agent: false });
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
  expect(status).toBe(200);
}

/** Sends raw bytes and returns the answer plus the connection id mitmlab gave it. */
async function exchange(bytes: string | Buffer, waitMs = 3_000, until?: (text: string) => boolean): Promise<{ text: string; conn: Promise<string> }> {
  const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort });
  await new Promise((resolve) => socket.once('connect', resolve));
  const conn = cli.connOf(socket.localPort!);
  return { text: await collect(socket, bytes, waitMs, until), conn };
}

/** True once `text` holds one whole response framed by Content-Length (mitmlab's own pages always have one). */
function oneResponse(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
  return length !== undefined && Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(length);
}

let markers = 0;
/**
 * Returns once everything mitmlab emitted before this call is in the session log: a fresh control request's
 * response is recorded after it (the bus keeps emission order). Lets a test check that an event did *not* happen.
 */
async function settled(): Promise<void> {
  const path = `/hello?settled=${++markers}`;
  const { text } = await exchange(`GET ${plainUrl(path)} HTTP/1.1\r\n${plainHost()}Connection: close\r\n\r\n`);
  expect(statusOf(text)).toBe(200);
  const request = await cli.waitForEvent('http-request', (e) => e.url.endsWith(path));
  await cli.waitForEvent('http-response', (e) => e.id === request.id);
}

/** Writes `bytes` (if any) and collects what arrives until the peer closes, `until` holds, or `waitMs` passes. */
function collect(socket: Duplex, bytes: string | Buffer | null, waitMs: number, until?: (text: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settledOnce = false;
    const done = (): void => {
      if (settledOnce) return;
      settledOnce = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (until?.(Buffer.concat(chunks).toString('latin1'))) done();
    });
    socket.once('close', done);
    socket.on('error', () => undefined);
    if (bytes !== null) socket.write(bytes);
  });
}

/** All status codes in a raw stream of responses, in order. */
function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

/** mitmlab's reason header on its own answers. */
function mitmlabError(text: string): string | null {
  return /\r\nx-mitmlab-error: ([^\r]*)/i.exec(text)?.[1] ?? null;
}

/** CONNECT through the proxy, then TLS; returns the raw tunnel socket (for its local port) and the TLS socket. */
async function intercepted(authority: string, servername: string, options: tls.ConnectionOptions = {}): Promise<{ raw: Socket; secure: tls.TLSSocket; conn: Promise<string> }> {
  const raw = await connectTunnel(cli.proxyPort, authority);
  const conn = cli.connOf(raw.localPort!);
  const secure = tls.connect({ socket: raw, servername, ca: caPem, ...options });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  return { raw, secure, conn };
}

const plainUrl = (path: string): string => `http://127.0.0.1:${plain.port}${path}`;
const plainHost = (): string => `Host: 127.0.0.1:${plain.port}\r\n`;
const scriptedUrl = (path: string): string => `http://127.0.0.1:${scripted.port}${path}`;

describe('requests Node refuses to parse get 400 with the parser\'s reason, on the proxy port', () => {
  // Request smuggling shapes (RFC 9112 §6.1, §6.3, §7.1; RFC 9110 §5.5): a proxy and an origin must never disagree on
  // where a message ends, so ambiguous framing is refused before anything is forwarded.
  const cases: Array<[string, () => string, RegExp]> = [
    ['Content-Length with Transfer-Encoding', () => `POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, /Transfer-Encoding can(?:'|&#39;)t be present with Content-Length/],
    ['two different Content-Lengths', () => `POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`, /Duplicate Content-Length/],
    ['a Content-Length list', () => `POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Content-Length: 4, 4\r\n\r\nabcd`, /Content-Length/],
    ['Transfer-Encoding that does not end in chunked', () => `POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Transfer-Encoding: gzip\r\n\r\nabcd`, /Transfer-Encoding/],
    ['Transfer-Encoding: xchunked', () => `POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Transfer-Encoding: xchunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`, /Transfer-Encoding/],
    ['whitespace before the colon', () => `POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Transfer-Encoding : chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`, /header/i],
    ['an obs-fold continuation line', () => `GET ${plainUrl('/hello')} HTTP/1.1\r\n${plainHost()}X-Folded: a\r\n b\r\n\r\n`, /whitespace|header/i],
    ['bare LF line ends', () => `GET ${plainUrl('/hello')} HTTP/1.1\nHost: 127.0.0.1\n\n`, /CRLF|LF|CR/],
    ['NUL in a header value', () => `GET ${plainUrl('/hello')} HTTP/1.1\r\n${plainHost()}X-A: a\0b\r\n\r\n`, /header value char/],
    ['NUL in the URL', () => `GET ${plainUrl('/he\0llo')} HTTP/1.1\r\n${plainHost()}\r\n`, /url/i],
    ['an absurd method', () => `FROBNICATE ${plainUrl('/hello')} HTTP/1.1\r\n${plainHost()}\r\n`, /method/],
    ['a 5,000-character method', () => `${'A'.repeat(5000)} ${plainUrl('/hello')} HTTP/1.1\r\n${plainHost()}\r\n`, /method/],
    ['HTTP/3.0 on an HTTP/1 port', () => `GET ${plainUrl('/hello')} HTTP/3.0\r\n${plainHost()}\r\n`, /version/],
    ['the HTTP/2 connection preface', () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', /PRI/],
  ];

  it.each(cases)('%s → 400 with a reason', async (_name, request, reason) => {
    const { text, conn } = await exchange(request());
    expect(statusOf(text)).toBe(400);
    expect(mitmlabError(text)).toBe('Malformed request');
    expect(text).toMatch(reason);
    const id = await conn;
    const error = await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'bad-request');
    expect(error.status).toBe(400);
    expect(error.message).toMatch(reason);
  });

  it.each([
    ['an invalid chunk size', (u: string) => `POST ${u} HTTP/1.1\r\n${plainHost()}Transfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n`, /chunk size/],
    ['a chunk size that overflows 64 bits', (u: string) => `POST ${u} HTTP/1.1\r\n${plainHost()}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabcd\r\n0\r\n\r\n`, /overflow/],
    ['a bare LF after a chunk extension', (u: string) => `POST ${u} HTTP/1.1\r\n${plainHost()}Transfer-Encoding: chunked\r\n\r\n4;a\nabcd\r\n0\r\n\r\n`, /chunk extension/],
  ])('a body with %s → 400 with the reason', async (_name, request, reason) => {
    const { text, conn } = await exchange(request(plainUrl('/echo')));
    expect(statusOf(text)).toBe(400);
    expect(text).toMatch(reason);
    const id = await conn;
    await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'bad-request');
  });

  // Regression (fixed): the head was already forwarded when the body turned out malformed; mitmlab answers 400, but the flow also
  // gets proxy-error 'client-aborted' ("The client disconnected before sending the whole request body"), which is
  // not what happened. Fault: server/core/http-exchange.ts forwardExchange, the pipeline(req, upstreamReq) callback
  // reports every incomplete request as a client abort.
  it('a malformed chunked body is not recorded as a client that went away', async () => {
    const { text, conn } = await exchange(`POST ${plainUrl('/echo?bad-chunk')} HTTP/1.1\r\n${plainHost()}Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nzz\r\n`);
    expect(statusOf(text)).toBe(400);
    const id = await conn;
    await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'bad-request');
    await cli.waitForEvent('connection-close', (e) => e.conn === id);
    await settled();
    const aborted = cli.eventsOf(id).filter((e) => e.type === 'proxy-error' && e.code === 'client-aborted');
    expect(aborted).toEqual([]);
    // The 400 answers that request: it is recorded once, linked to the request's flow.
    const request = cli.eventsOf(id).find((e) => e.type === 'http-request');
    const badRequests = cli.eventsOf(id).filter((e) => e.type === 'proxy-error' && e.code === 'bad-request');
    expect(badRequests.map((e) => (e as { id: string | null }).id)).toEqual([(request as { id: string }).id]);
  });
});

describe('requests that are valid, if unusual, are forwarded intact', () => {
  it('chunk extensions are accepted and the body arrives whole (RFC 9112 §7.1.1)', async () => {
    const { text } = await exchange(`POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4;name=value\r\nabcd\r\n3;x\r\nefg\r\n0\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    expect(text).toContain('"length":7');
    expect(text).toContain('"body":"abcdefg"');
  });

  // Regression (fixed): node:http keeps only the first 2,000 header lines' worth of fields by default, so fields past
  // about the thousandth were dropped without a word, on the wire and in the record (Content-Length among them).
  it('a head with 1,100 request fields and one with 2,100 response fields go through whole, and are recorded whole', async () => {
    // Short fields: the test origin (node:http) accepts heads up to 16 KiB.
    const fields = Array.from({ length: 1_100 }, (_, i) => `R${i}:${i % 10}\r\n`).join('');
    const { text, conn } = await exchange(`GET ${plainUrl('/echo?many')} HTTP/1.1\r\n${plainHost()}${fields}Authorization: Bearer LAST-FIELD\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text), text.slice(0, 600)).toBe(200);
    // One chunk of JSON (the origin writes it with one end()).
    const echoed = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)) as { headers: Record<string, string> };
    expect(echoed.headers.authorization).toBe('Bearer LAST-FIELD');
    expect(echoed.headers.r1099).toBe('9');
    const id = await conn;
    const request = await cli.waitForEvent('http-request', (e) => e.conn === id);
    expect(request.headers.length).toBeGreaterThanOrEqual(1_102);

    const answer = await exchange(`GET ${scriptedUrl('/many-fields')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(answer.text)).toBe(200);
    expect(answer.text).toContain('\r\nX-N2099: 2099\r\n');
    expect(answer.text.slice(-200)).toMatch(/\r\nContent-Length: 2\r\n(.+\r\n)*\r\nok$/i);
    const responseConn = await answer.conn;
    const response = await cli.waitForEvent('http-response', (e) => e.conn === responseConn);
    expect(response.headers.filter(([name]) => name.startsWith('X-N'))).toHaveLength(2_100);
  });

  // Regression (fixed): an absolute-form request's Host line moved to the end of the head sent to the origin.
  it('Host keeps its place going upstream; a response without Date gets one (RFC 9110 §6.6.1)', async () => {
    const before = scripted.heads.length;
    const { text } = await exchange(`GET ${scriptedUrl('/plain')} HTTP/1.1\r\nHost: x\r\nX-After: 1\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    expect(text).toMatch(/\r\ndate: /i);
    const head = scripted.heads[before]!;
    expect(head.split('\r\n').slice(1, 3)).toEqual([`Host: 127.0.0.1:${scripted.port}`, 'X-After: 1']);
  });

  it('a POST without a body goes upstream without one, not chunked; a chunked one keeps its Trailer field', async () => {
    const before = scripted.heads.length;
    const { text } = await exchange(`POST ${scriptedUrl('/plain')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    // RFC 9112 §6.3: neither Content-Length nor Transfer-Encoding is a body of length 0; said so, not re-framed.
    const head = scripted.heads[before]!.toLowerCase();
    expect(head).not.toContain('transfer-encoding');
    expect(head).toMatch(/\r\ncontent-length: 0\r\n/);

    const seen = plain.seen.length;
    const chunked = await exchange(
      `POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: close\r\n\r\n` +
        '3\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n',
    );
    expect(statusOf(chunked.text)).toBe(200);
    expect(chunked.text).toContain('"body":"abc"');
    // Trailer is not hop-by-hop (RFC 9110 §6.6.2): it announces the trailer field that goes on after the body.
    expect(plain.seen[seen]!.headers).toMatchObject({ trailer: 'X-Sum', 'transfer-encoding': 'chunked' });
  });

  it('a transfer coding other than chunked goes on labelled to an HTTP/1.1 client; the record undoes it', async () => {
    const { text, conn } = await exchange(`GET ${scriptedUrl('/te-gzip')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1')];
    expect(head).toMatch(/\r\ntransfer-encoding: gzip, chunked(\r\n|$)/i);
    // The chunks hold the gzip coding, as the origin sent it (before, they held gzip bytes labelled as plain text).
    const chunks: Buffer[] = [];
    for (let at = 0; ; ) {
      const eol = body.indexOf('\r\n', at);
      const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
      if (!(size > 0)) break;
      chunks.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    expect(gunzipSync(Buffer.concat(chunks)).toString()).toBe('transfer coded body');
    const id = await conn;
    const response = await cli.waitForEvent('http-response', (e) => e.conn === id);
    expect(response.body).toMatchObject({ decoded: true, size: 19, encoding: 'gzip', mimeType: 'text/plain' });
  });

  it('a UTF-8 header value is recorded as UTF-8 text and relayed byte for byte; one in Latin-1 stays as it came', async () => {
    const { text, conn } = await exchange(`GET ${scriptedUrl('/utf8-header')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    // exchange() reads the answer as latin1: the origin's own bytes come back unchanged.
    expect(Buffer.from(text, 'latin1').includes(Buffer.from('filename="naïve €.txt"', 'utf8'))).toBe(true);
    expect(Buffer.from(text, 'latin1').includes(Buffer.from('X-Latin: café', 'latin1'))).toBe(true);
    const id = await conn;
    const response = await cli.waitForEvent('http-response', (e) => e.conn === id);
    expect(response.headers).toContainEqual(['Content-Disposition', 'attachment; filename="naïve €.txt"']);
    expect(response.headers).toContainEqual(['X-Latin', 'café']);
  });

  it('a 206 slice of gzip data is relayed as it came and recorded as not decodable on its own, not as damaged', async () => {
    const { text, conn } = await exchange(`GET ${scriptedUrl('/range-gzip')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(206);
    const id = await conn;
    const response = await cli.waitForEvent('http-response', (e) => e.conn === id);
    expect(response.body).toMatchObject({ decoded: false, size: 20, encoding: 'gzip' });
    expect(response.body!.decodeError).toContain('partial response (206)');
  });

  it('an HTTP/1.0 client, which cannot be sent a transfer coding, gets a 502 that says so', async () => {
    const { text } = await exchange(`GET ${scriptedUrl('/te-gzip')} HTTP/1.0\r\nHost: x\r\n\r\n`);
    expect(statusOf(text)).toBe(502);
    expect(text).toContain('transfer coding other than chunked');
    expect(text).not.toContain('\x1f\x8b');
  });

  it('three pipelined requests get three answers, in order', async () => {
    const { text } = await exchange(
      `GET ${plainUrl('/hello')} HTTP/1.1\r\n${plainHost()}\r\n` +
        `POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Content-Length: 3\r\n\r\nabc` +
        `GET ${plainUrl('/hello')} HTTP/1.1\r\n${plainHost()}Connection: close\r\n\r\n`,
    );
    expect(statuses(text)).toEqual([200, 200, 200]);
    expect(text.indexOf('hello from origin')).toBeLessThan(text.indexOf('"body":"abc"'));
    expect(text.lastIndexOf('hello from origin')).toBeGreaterThan(text.indexOf('"body":"abc"'));
  });

  it('Expect: 100-continue gets the origin\'s 100, then its answer to the whole body', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort });
    const first = await new Promise<string>((resolve) => {
      socket.once('data', (c: Buffer) => resolve(c.toString('latin1')));
      socket.write(`POST ${plainUrl('/echo')} HTTP/1.1\r\n${plainHost()}Content-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    });
    expect(statusOf(first)).toBe(100);
    const rest = await collect(socket, 'abcd', 5_000);
    expect(statusOf(rest)).toBe(200);
    expect(rest).toContain('"body":"abcd"');
    // The expectation went to the origin, which sent the 100 (RFC 9110 §10.1.1: the origin decides).
    expect(rest).toContain('"expect":"100-continue"');
  });

  it('a 20 KiB URL (under --max-header-size) is forwarded whole; a 100 KiB one gets 431', async () => {
    const query = 'q='.concat('a'.repeat(20 * 1024));
    const seen = plain.seen.length;
    const { text } = await exchange(`GET ${plainUrl(`/hello?${query}`)} HTTP/1.1\r\n${plainHost()}Connection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    expect(mitmlabError(text)).toBeNull();
    expect(plain.seen).toHaveLength(seen + 1);
    expect(plain.seen.at(-1)!.url).toBe(`/hello?${query}`);
    const huge = await exchange(`GET ${plainUrl(`/hello?${'a'.repeat(100 * 1024)}`)} HTTP/1.1\r\n${plainHost()}\r\n`);
    expect(statusOf(huge.text)).toBe(431);
    const id = await huge.conn;
    await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'headers-too-large');
  });

  it('--max-header-size counts field names and values, not separators, as README says', async () => {
    // 4,000 fields "Xn: 1": about 36 KB on the wire, under 32 KiB as counted (the README's CLI reference says so).
    const many = Array.from({ length: 4_000 }, (_, i) => `X${i}: 1\r\n`).join('');
    expect(many.length).toBeGreaterThan(32 * 1024);
    const { text } = await exchange(`GET ${plainUrl('/hello?many-fields')} HTTP/1.1\r\n${plainHost()}${many}Connection: close\r\n\r\n`);
    expect(mitmlabError(text)).toBeNull();
    // 4,200 fields of 8 counted bytes each: over, and refused by mitmlab itself (the origin has a smaller limit).
    const over = Array.from({ length: 4_200 }, (_, i) => `X${String(i).padStart(4, '0')}: 123\r\n`).join('');
    const refused = await exchange(`GET ${plainUrl('/hello?too-many-fields')} HTTP/1.1\r\n${plainHost()}${over}Connection: close\r\n\r\n`);
    expect(statusOf(refused.text)).toBe(431);
    expect(mitmlabError(refused.text)).not.toBeNull();
  });

  it('an HTTP/0.9-style request line without a version still gets an HTTP answer', async () => {
    const { text } = await exchange(`GET ${plainUrl('/hello')}\r\n\r\n`);
    expect(statusOf(text)).not.toBe(0);
  });

  // Regression (fixed): RFC 9112 §3.2 — "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
  // message that … contains more than one Host header field line". mitmlab forwards both, so the origin picks one
  // while mitmlab routed by the URL: a classic routing-confusion shape. Fault: server/core/proxy.ts front 'request'
  // handler (no Host check) and http-exchange.ts forwardExchange (forwards the client's Host lines as they are).
  it('two Host header lines → 400', async () => {
    const { text } = await exchange(`GET ${plainUrl('/hello')} HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(400);
  });

  // Regression (fixed): RFC 9112 §3.2.2 — a proxy forwarding an absolute-form request "MUST generate a new Host field value based
  // on the received request-target rather than forward the received Host field value". mitmlab connects to the URL's
  // host but forwards the client's Host, so the origin sees a different host than mitmlab recorded.
  // Fault: server/core/http-exchange.ts forwardExchange keeps the client's Host (only adds one when missing).
  it('the Host sent upstream is the request URL\'s authority, not the client\'s Host line', async () => {
    const { text } = await exchange(`GET ${plainUrl('/echo')} HTTP/1.1\r\nHost: elsewhere.test\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    expect(text).toContain(`"host":"127.0.0.1:${plain.port}"`);
  });
});

describe('origins that misbehave (plain http://)', () => {
  it('an origin that closes in the middle of its head → 502 "reset the connection"', async () => {
    const { text, conn } = await exchange(`GET ${scriptedUrl('/mid-headers')} HTTP/1.1\r\nHost: x\r\n\r\n`, 3_000, oneResponse);
    expect(statusOf(text)).toBe(502);
    expect(mitmlabError(text)).toMatch(/reset the connection/);
    // The connection was working and the request sent: not a handshake failure.
    expect(text).toContain('closed the connection before sending a complete response');
    expect(text).not.toContain('TLS handshake');
    const id = await conn;
    await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'upstream-reset' && e.status === 502);
  });

  it('a Content-Length longer than the body: the client gets what came, then a close, and the cut is recorded', async () => {
    const { text, conn } = await exchange(`GET ${scriptedUrl('/cl-longer')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    expect(text.endsWith('\r\n\r\nhello')).toBe(true);
    const id = await conn;
    const cut = await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'upstream-reset');
    expect(cut.message).toMatch(/cut off/);
    const response = await cli.waitForEvent('http-response', (e) => e.conn === id);
    expect(response.status).toBe(200);
  });

  it('1xx interim responses, then 200: the client gets the final answer', async () => {
    const { text } = await exchange(`GET ${scriptedUrl('/1xx')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statuses(text).at(-1)).toBe(200);
    expect(text.endsWith('ok')).toBe(true);
  });

  // Regression (fixed): a response that is complete by its own framing, followed by stray bytes, reaches the client as nothing at
  // all (an empty reply: bytesOut 0), while the session records the origin's status and body as if delivered.
  // Node's client parser reads the stray bytes as a next response, fails, and emits 'error' on the request *after*
  // 'response'; forwardExchange then sees res.headersSent and destroys the client's response before its body (or
  // even its head) was flushed. Fault: server/core/http-exchange.ts forwardExchange, upstreamReq 'error' handler.
  // Fix sketch:
  //   let upstreamRes: http.IncomingMessage | null = null;            // set in the 'response' handler
  //   upstreamReq.once('error', (error) => {
  //     if (clientGone) return;
  // +   // Junk after a complete message (RFC 9112 §6.3) poisons only that upstream connection, which Node discards.
  // +   if (upstreamRes?.complete) return;
  //     if (res.headersSent) { … }
  it.each([
    ['a Content-Length shorter than what follows', 'GET', '/cl-shorter', 200, 'hello'],
    ['a 204 with a body', 'GET', '/204', 204, ''],
    ['a 304 with a body', 'GET', '/304', 304, ''],
    ['a HEAD response with a body', 'HEAD', '/head', 200, ''],
  ])('%s: the client still gets the response as framed', async (_name, method, path, status, body) => {
    const { text } = await exchange(`${method} ${scriptedUrl(path)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(text)).toBe(status);
    expect(text.split('\r\n\r\n')[1] ?? '').toBe(body);
  });

  // Regression (fixed): an origin that answers a plain GET with 101 Switching Protocols leaves the client waiting forever: Node's
  // ClientRequest, with no 'upgrade' listener, destroys the socket and emits neither 'response' nor 'error' — only
  // 'close' — and forwardExchange listens for neither 'upgrade' nor 'close'. The idle timer never fires either
  // (site.active stays 1). Fault: server/core/http-exchange.ts forwardExchange.
  // Fix sketch:
  // + upstreamReq.once('upgrade', (_res, socket) => { socket.destroy(); sendErrorPage(ctx, site, flow, res,
  // +   { code: 'upstream-reset', status: 502, title: `${target.host} switched protocols unasked`,
  // +     detail: 'The origin answered 101 to a request that did not ask to upgrade (RFC 9110 §15.2.2).' }, …) });
  it('an unsolicited 101 → a 502 answer, not a hang', async () => {
    const { text } = await exchange(`GET ${scriptedUrl('/101')} HTTP/1.1\r\nHost: x\r\n\r\n`, 4_000);
    expect(statusOf(text)).toBe(502);
  });

  // Regression (fixed): an origin that is reached and answers with bytes that are not HTTP gets a 502 titled "Cannot reach HOST",
  // a proxy-error 'upstream-unreachable', and the message "The TLS handshake with the origin … failed
  // [HPE_INVALID_CONSTANT]" — on a plain http:// request where no TLS is involved. The student is sent to look for a
  // network problem. Fault: server/core/upstream-answer.ts failureAnswer falls through to its default branch for
  // llhttp's HPE_* codes (and server/tls/failures.ts classifyUpstreamFailure's default message always says "TLS
  // handshake"). Fix sketch (upstream-answer.ts, before the classifyUpstreamFailure call):
  // + if (code.startsWith('HPE_')) {
  // +   const reason = (e as { reason?: string }).reason ?? e.message ?? code;
  // +   return { code: 'upstream-bad-response', status: 502, title: `${where} sent an invalid HTTP response`,
  // +            detail: `mitmlab reached ${where}, but its answer is not valid HTTP/1.1 (${reason}).` };
  // + }
  // (plus 'upstream-bad-response' in ProxyErrorCode, server/protocol/events.ts).
  it.each([
    ['bytes that are not HTTP', '/garbage'],
    ['an HTTP/0.9 answer', '/http09'],
    ['Content-Length with Transfer-Encoding', '/cl-te'],
    ['two Content-Lengths', '/two-cl'],
  ])('an origin that sends %s → 502 naming an invalid response, not "Cannot reach"', async (_name, path) => {
    const { text, conn } = await exchange(`GET ${scriptedUrl(path)} HTTP/1.1\r\nHost: x\r\n\r\n`, 3_000, oneResponse);
    expect(statusOf(text)).toBe(502);
    const id = await conn;
    const error = await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.status === 502);
    expect(mitmlabError(text)).not.toMatch(/Cannot reach/);
    expect(error.code).not.toBe('upstream-unreachable');
    expect(error.message).not.toMatch(/TLS handshake/);
  });
});

describe('inside an intercepted TLS connection', () => {
  it('smuggling shapes get 400 from the decrypted parser too', async () => {
    const { secure, conn } = await intercepted(`${HOST}:${tlsOrigin.port}`, HOST);
    const text = await collect(secure, `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 3_000);
    expect(statusOf(text)).toBe(400);
    expect(text).toMatch(/Transfer-Encoding can(?:'|&#39;)t be present with Content-Length/);
    const id = await conn;
    await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'bad-request');
  });

  it('the TLS origin answers a normal request (baseline for the cases below)', async () => {
    const { secure } = await intercepted(`${HOST}:${tlsOrigin.port}`, HOST);
    const text = await collect(secure, `GET /hello HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`, 3_000);
    expect(statusOf(text)).toBe(200);
    expect(text).toContain('hello from origin');
  });

  it('the HTTP/2 preface inside TLS (ALPN said http/1.1) → 400', async () => {
    const { secure, conn } = await intercepted(`${HOST}:${tlsOrigin.port}`, HOST);
    const text = await collect(secure, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 3_000);
    expect(statusOf(text)).toBe(400);
    const id = await conn;
    await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'bad-request');
  });

  // Regression (fixed): a client that sends an unparsable request inside TLS gets its 400, but the close that follows is then
  // recorded as tls-failed 'closed-after-handshake' — "it probably rejected the certificate silently (for example
  // certificate pinning)" — because the clientError path never counts as activity on the connection. (Seen too with
  // `openssl s_client -ign_eof` sending "R".) Fault: server/core/proxy.ts clientError handler / intercept.ts close
  // handler (state.requests stays 0). Fix sketch (proxy.ts, clientError):
  // + const state = interceptedConnection(socket); if (state) state.requests++; // it spoke HTTP: not a silent reject
  it('a malformed request inside TLS → 400, and no "rejected the certificate" verdict', async () => {
    const { secure, conn } = await intercepted(`${UNUSED}:${tlsOrigin.port}`, UNUSED);
    const text = await collect(secure, `GET /hello HTTP/1.1\r\nHost: ${UNUSED}\r\nNot A Header\r\n\r\n`, 3_000);
    expect(statusOf(text)).toBe(400);
    const id = await conn;
    await cli.waitForEvent('connection-close', (e) => e.conn === id);
    await settled();
    const verdicts = cli.eventsOf(id).filter((e) => e.type === 'tls-failed' && e.cause === 'closed-after-handshake');
    expect(verdicts).toEqual([]);
  });

  // Regression (fixed): CONNECT inside an intercepted connection is answered with a silent close (the internal HTTP server has
  // no 'connect' listener, so Node destroys the socket), and the session then says the client "probably rejected the
  // certificate silently". Fault: server/core/proxy.ts — `inner` has no 'connect' handler.
  // Fix sketch: + inner.on('connect', (req, socket) => { const state = interceptedConnection(socket);
  // +   if (state) state.requests++; emitError(state?.conn ?? null, 'bad-request', 405, '…');
  // +   refuse(socket, { status: 405, title: 'CONNECT inside a tunnel', detail: 'mitmlab does not open a tunnel inside an intercepted connection.' }); });
  it('a second CONNECT inside the intercepted tunnel → a 4xx answer', async () => {
    const { secure } = await intercepted(`${HOST}:${tlsOrigin.port}`, HOST);
    const text = await collect(secure, `CONNECT 127.0.0.1:${plain.port} HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\n\r\n`, 3_000);
    expect(statusOf(text)).toBeGreaterThanOrEqual(400);
    expect(statusOf(text)).toBeLessThan(500);
  });

  it('an HTTPS origin that closes mid-head → 502 inside the tunnel', async () => {
    const { secure, conn } = await intercepted(`${SCRIPTED}:${scriptedTls.port}`, SCRIPTED);
    const text = await collect(secure, `GET /mid-headers HTTP/1.1\r\nHost: ${SCRIPTED}\r\n\r\n`, 3_000, oneResponse);
    expect(statusOf(text)).toBe(502);
    expect(text).toContain('closed the connection before sending a complete response');
    expect(text).not.toContain('TLS handshake');
    const id = await conn;
    await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'upstream-reset');
  });

  it('an HTTPS origin that sends garbage → 502 inside the tunnel, recorded as a synthetic response', async () => {
    const { secure, conn } = await intercepted(`${SCRIPTED}:${scriptedTls.port}`, SCRIPTED);
    const text = await collect(secure, `GET /garbage HTTP/1.1\r\nHost: ${SCRIPTED}\r\n\r\n`, 3_000, oneResponse);
    expect(statusOf(text)).toBe(502);
    const id = await conn;
    const response = await cli.waitForEvent('http-response', (e) => e.conn === id);
    expect(response.status).toBe(502);
    expect(response.synthetic).toBe(true);
  });

  it('a client offering only h2 in ALPN gets a TLS failure, recorded for the client leg', async () => {
    const raw = await connectTunnel(cli.proxyPort, `${HOST}:${tlsOrigin.port}`);
    const conn = cli.connOf(raw.localPort!);
    const secure = tls.connect({ socket: raw, servername: HOST, ca: caPem, ALPNProtocols: ['h2'] });
    const error = await new Promise<Error>((resolve) => {
      secure.once('error', resolve);
      secure.once('secureConnect', () => resolve(new Error('handshake unexpectedly succeeded')));
    });
    expect(error.message).toMatch(/no application protocol/);
    const id = await conn;
    const failed = await cli.waitForEvent('tls-failed', (e) => e.conn === id && e.leg === 'client');
    expect(failed.message).toContain(HOST);
  });
});

describe('CONNECT edge cases', () => {
  it('CONNECT with a body: the bytes after the head are relayed raw, as the start of the tunnel', async () => {
    const { text, conn } = await exchange(`CONNECT 127.0.0.1:${plain.port} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusOf(text)).toBe(200);
    // The origin reads "helloGET …" and refuses it: proof the bytes went through untouched.
    expect(statuses(text)).toEqual([200, 400]);
    const id = await conn;
    await cli.waitForEvent('tunnel', (e) => e.conn === id && e.reason === 'not-tls');
  });

  it('CONNECT to port 0 → 400 bad-connect-target', async () => {
    const { text, conn } = await exchange('CONNECT 127.0.0.1:0 HTTP/1.1\r\nHost: 127.0.0.1:0\r\n\r\n');
    expect(statusOf(text)).toBe(400);
    expect(text).toContain('out of range');
    const id = await conn;
    await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.code === 'bad-connect-target');
  });

  it('CONNECT [::1]:PORT reaches an origin on IPv6 loopback', async () => {
    const v6 = http.createServer((_req, res) => res.end('hello over ipv6'));
    const listening = await new Promise<boolean>((resolve) => {
      v6.once('error', () => resolve(false));
      v6.listen(0, '::1', () => resolve(true));
    });
    if (!listening) {
      console.warn('skipping the [::1] check: this machine has no IPv6 loopback');
      return;
    }
    try {
      const port = (v6.address() as AddressInfo).port;
      const { text, conn } = await exchange(`CONNECT [::1]:${port} HTTP/1.1\r\nHost: [::1]:${port}\r\n\r\nGET / HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n`);
      expect(statuses(text)).toEqual([200, 200]);
      expect(text).toContain('hello over ipv6');
      const id = await conn;
      const connect = await cli.waitForEvent('connect', (e) => e.conn === id);
      expect(connect.host).toBe('::1');
    } finally {
      v6.closeAllConnections();
      await new Promise((resolve) => v6.close(resolve));
    }
  });

  // Regression (fixed): RFC 9110 §9.3.6 / RFC 3986 §3.2.2 — an IPv6 literal in authority-form must be bracketed. `::1:PORT` is
  // ambiguous (it is itself a valid IPv6 address) yet is accepted as host ::1, port PORT.
  // Fault: server/core/connect-target.ts parseConnectTarget splits at the last ':' without checking the host part.
  // Fix sketch: + if (hostPart.includes(':')) return { ok: false, reason: 'an IPv6 CONNECT target must be in brackets: [addr]:port' };
  it('an unbracketed IPv6 CONNECT target → 400', async () => {
    const { text } = await exchange(`CONNECT ::1:${plain.port} HTTP/1.1\r\n\r\n`, 1_000);
    expect(statusOf(text)).toBe(400);
  });

  // Defect (loop guard bypass): an IPv4-mapped IPv6 literal for loopback reaches mitmlab's own live view through the
  // proxy. normalizeHost canonicalises [::ffff:127.0.0.1] to "::ffff:7f00:1" (WHATWG URL form), and isLocalAddress
  // only unwraps the dotted form "::ffff:127.0.0.1", so the guard says "not local"; net.connect then reaches
  // 127.0.0.1 through the mapped address. The live view answered 401 (its own token check), i.e. the request got
  // there. Fault: server/core/policy.ts isLocalAddress. Fix sketch:
  // + const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  // + const bare = mapped ? [parseInt(mapped[1], 16) >> 8, parseInt(mapped[1], 16) & 255, parseInt(mapped[2], 16) >> 8, parseInt(mapped[2], 16) & 255].join('.') : …;
  // (and treat ::ffff:0:0 as 0.0.0.0).
  it('the live view through an IPv4-mapped IPv6 literal → 403 loop-refused', async () => {
    expect(cli.uiPort).toBeGreaterThan(0);
    const absolute = await exchange(`GET http://[::ffff:127.0.0.1]:${cli.uiPort}/ HTTP/1.1\r\nHost: 127.0.0.1:${cli.uiPort}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(absolute.text)).toBe(403);
    const connect = await exchange(`CONNECT [::ffff:127.0.0.1]:${cli.uiPort} HTTP/1.1\r\n\r\n`, 1_000);
    expect(statusOf(connect.text)).toBe(403);
  });

  it('a second CONNECT inside a raw tunnel is relayed to the origin like any other bytes', async () => {
    const { text, conn } = await exchange(`CONNECT 127.0.0.1:${plain.port} HTTP/1.1\r\n\r\nCONNECT 127.0.0.1:${tlsOrigin.port} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 2_000);
    expect(statusOf(text)).toBe(200);
    const id = await conn;
    await cli.waitForEvent('tunnel', (e) => e.conn === id && e.port === plain.port);
    expect(cli.eventsOf(id).filter((e) => e.type === 'connect')).toHaveLength(1);
  });
});

describe('TLS that is not quite a ClientHello', () => {
  it('a 60 KiB extension list across four records is parsed, the SNI read, and a ServerHello sent', async () => {
    const hello = inflateClientHello(await captureClientHello({ servername: HOST }), 60 * 1024);
    expect(hello.length).toBeGreaterThan(60 * 1024);
    const raw = await connectTunnel(cli.proxyPort, `${HOST}:${tlsOrigin.port}`);
    const conn = cli.connOf(raw.localPort!);
    const reply = await new Promise<Buffer>((resolve) => {
      raw.once('data', resolve);
      raw.write(hello);
    });
    raw.destroy();
    expect(reply[0]).toBe(22); // a handshake record: ServerHello
    const id = await conn;
    const seen = await cli.waitForEvent('tls-client-hello', (e) => e.conn === id && e.leg === 'client');
    expect(seen.hello.serverName).toBe(HOST);
    expect(seen.hello.extensions.length).toBeGreaterThan(15);
  });

  it('a ClientHello written one byte per TCP write completes the handshake and the request', async () => {
    const raw = await connectTunnel(cli.proxyPort, `${HOST}:${tlsOrigin.port}`);
    raw.setNoDelay(true);
    // Forwards reads as they are; splits the first write (the ClientHello) into single bytes, one per write.
    let first = true;
    const trickle = new Duplex({
      read() {
        raw.resume();
      },
      write(chunk: Buffer, _encoding, callback) {
        if (!first) return void raw.write(chunk, callback);
        first = false;
        let i = 0;
        const next = (): void => {
          if (i >= chunk.length) return callback();
          raw.write(chunk.subarray(i, ++i), () => setImmediate(next));
        };
        next();
      },
    });
    raw.on('data', (c: Buffer) => {
      if (!trickle.push(c)) raw.pause();
    });
    raw.on('end', () => trickle.push(null));
    const secure = tls.connect({ socket: trickle, servername: HOST, ca: caPem });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    const text = await collect(secure, `GET /hello HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`, 5_000, (t) => t.includes('\r\n0\r\n\r\n'));
    raw.destroy();
    expect(statusOf(text)).toBe(200);
    expect(text).toContain('hello from origin');
  });

  it('random bytes after a valid ClientHello → a client-leg tls-failed event', async () => {
    const hello = await captureClientHello({ servername: HOST });
    const raw = await connectTunnel(cli.proxyPort, `${HOST}:${tlsOrigin.port}`);
    const conn = cli.connOf(raw.localPort!);
    await collect(raw, Buffer.concat([hello, Buffer.from('random junk, not a TLS record \x00\xff\x17')]), 1_500);
    const id = await conn;
    const failed = await cli.waitForEvent('tls-failed', (e) => e.conn === id && e.leg === 'client');
    expect(failed.message).toContain(HOST);
  });

  // Regression (fixed): junk after a valid hello is classified 'version-mismatch' — "The client and mitmlab support no common TLS
  // version" — because OpenSSL reports the junk's record header as ERR_SSL_WRONG_VERSION_NUMBER. Versions were never
  // the problem. Fault: server/tls/failures.ts classifyClientFailure (maps WRONG_VERSION to version-mismatch without
  // looking at the transcript). Fix sketch: pass `badRecord: transcript saw bytes that do not frame as TLS records`
  // in FailureFacts from intercept.ts, and classify that first as cause 'unknown' with "The client sent bytes that
  // are not TLS records after its ClientHello".
  it('random bytes after a valid ClientHello are not called a version mismatch', async () => {
    const hello = await captureClientHello({ servername: HOST });
    const raw = await connectTunnel(cli.proxyPort, `${HOST}:${tlsOrigin.port}`);
    const conn = cli.connOf(raw.localPort!);
    await collect(raw, Buffer.concat([hello, Buffer.from('more junk that is not a record')]), 1_500);
    const id = await conn;
    const failed = await cli.waitForEvent('tls-failed', (e) => e.conn === id && e.leg === 'client');
    expect(failed.cause).not.toBe('version-mismatch');
  });

  // Regression (fixed): a TLS alert record sent instead of a ClientHello is relayed raw to the origin and recorded as a
  // 'tunnel' with reason 'not-tls'. It is TLS (content type 21, version 3.x; RFC 8446 §5.1), just not a hello.
  // Fault: server/tls/records.ts readFlight returns notTls() for any first byte other than 22.
  // Fix sketch: + if (isKnownContentType(first) && (buf.length < 2 || buf[1] === 3)) return invalid('unexpected-record-before-hello', 0);
  // so sniff reports 'invalid' and intercept.ts emits tls-failed for the client leg.
  it('a TLS alert instead of a ClientHello → a client-leg tls-failed event, not a raw tunnel', async () => {
    const raw = await connectTunnel(cli.proxyPort, `${HOST}:${tlsOrigin.port}`);
    const conn = cli.connOf(raw.localPort!);
    await collect(raw, alertRecord(2, 40), 1_500);
    const id = await conn;
    await cli.waitForEvent('tls-failed', (e) => e.conn === id && e.leg === 'client', 3_000);
  });

  // Regression (fixed): a client that hangs up (FIN) right after mitmlab's ServerHello flight is not noticed: the TeeSocket's
  // 'end' never reaches the handshake (a server TLSSocket over a JS stream neither errors nor closes on EOF before
  // the handshake), so the connection and its upstream are held for the whole --handshake-timeout and then recorded
  // as 'handshake-timeout' — "did not finish the handshake in time" — and the TLS 1.3 silent-reject check in the
  // close handler is skipped because fail() already ran. Fault: server/core/intercept.ts intercept().
  // Fix sketch: + tee.once('end', () => { if (secureAt === 0) fail(clientRecorder.silentlyRejected() ? 'SILENT_CERT_REJECT' : 'ECONNRESET'); });
  it('a client that hangs up right after the ServerHello is recorded as gone, not as a handshake timeout', async () => {
    const hello = await captureClientHello({ servername: HOST });
    const raw = await connectTunnel(cli.proxyPort, `${HOST}:${tlsOrigin.port}`);
    const conn = cli.connOf(raw.localPort!);
    await new Promise<void>((resolve) => {
      raw.on('data', () => undefined);
      raw.once('data', () => raw.end()); // FIN as soon as the server's flight starts arriving
      raw.once('close', () => resolve());
      raw.write(hello);
    });
    const id = await conn;
    const failed = await cli.waitForEvent('tls-failed', (e) => e.conn === id && e.leg === 'client');
    expect(failed.cause).not.toBe('handshake-timeout');
  });

  /** An intercepted connection that carried one exchange, then got a plaintext fatal alert where a record was due. */
  async function alertAfterExchange(): Promise<{ raw: Socket; clientError: Promise<Error>; conn: Promise<string> }> {
    const { raw, secure, conn } = await intercepted(`${HOST}:${tlsOrigin.port}`, HOST);
    const clientError = new Promise<Error>((resolve) => secure.once('error', resolve));
    const first = await new Promise<string>((resolve) => {
      secure.once('data', (c: Buffer) => resolve(c.toString('latin1')));
      secure.write(`GET /hello HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    });
    expect(statusOf(first)).toBe(200);
    raw.write(alertRecord(2, 40)); // handshake_failure, in the clear
    return { raw, clientError, conn };
  }

  it('a fatal alert after a completed exchange is answered with a TLS alert; other connections are unaffected', async () => {
    const { raw, clientError } = await alertAfterExchange();
    expect((await clientError).message).toMatch(/alert/);
    raw.destroy();
  });

  // Regression (fixed): after that alert, mitmlab's TLS layer answers with its own fatal alert (unexpected_message), so the
  // session is dead — yet the client-leg TLSSocket emits no 'error' (Node does not surface it for a TLSSocket over a
  // JS stream), nothing is recorded, and the TCP connection and its upstream stay open until --idle-timeout
  // (120 s by default). Fault: server/core/intercept.ts relies on clientTls 'error' after the handshake.
  // Fix sketch: the transcript already decodes plaintext alerts on the tee; when an incoming fatal alert (or any
  // alert record after the handshake) is seen, end the connection and say so:
  // + tee.onAlert = (alert) => { if (secureAt > 0) { ctx.bus.emit({ type: 'tls-failed', conn, leg: 'client', host: certHost,
  // +   cause: 'unknown', alert: alert.name, message: `The client ended the TLS session for ${certHost} with the alert ${alert.name}.`, at: Date.now() });
  // +   clientTls.destroy(); } };
  it('after a fatal alert, mitmlab closes that connection itself instead of waiting for --idle-timeout', async () => {
    const { raw, clientError, conn } = await alertAfterExchange();
    await clientError;
    const closedByProxy = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5_000); // the shared mitmlab's idle timeout is 120 s
      raw.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    raw.destroy();
    expect(closedByProxy).toBe(true);
    const id = await conn;
    await cli.waitForEvent('tls-failed', (e) => e.conn === id && e.leg === 'client', 2_000);
  });
});

describe('TLS 1.2 renegotiation', () => {
  const haveOpenssl = requireTools('openssl');

  // Regression (fixed): client-initiated renegotiation is unlimited on the client leg. Node caps it at tls.CLIENT_RENEG_LIMIT (3)
  // per tls.CLIENT_RENEG_WINDOW (10 min) for tls.Server connections (ERR_TLS_SESSION_ATTACK), but mitmlab builds its
  // TLSSocket by hand (intercept.ts), and six renegotiations (each a fresh RSA signature by mitmlab) all succeed: a
  // cheap CPU amplification. Fault: server/core/intercept.ts (the client-leg TLSSocket) / server/certs context options.
  // Fix sketch: HTTP/1.1 clients never need renegotiation, so refuse it outright, e.g. in the minted SecureContext:
  // + secureOptions: crypto.constants.SSL_OP_NO_RENEGOTIATION
  // (OpenSSL then answers with a no_renegotiation warning alert and the connection carries on).
  (haveOpenssl ? it : it.skip)('openssl s_client `R` ×6: at most 3 renegotiations are accepted, and the request still works', async () => {
    const child = spawn('openssl', ['s_client', '-proxy', `127.0.0.1:${cli.proxyPort}`, '-connect', `${HOST}:${tlsOrigin.port}`, '-servername', HOST, '-tls1_2', '-CAfile', cli.caPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const until = async (pattern: RegExp, count: number): Promise<void> => {
      for (let i = 0; i < 100 && (out.match(pattern) ?? []).length < count && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      await until(/Verify return code/g, 1);
      // In interactive mode (no -quiet / -ign_eof) a line "R" asks s_client to renegotiate.
      for (let i = 0; i < 6; i++) {
        child.stdin.write('R\n');
        await until(/RENEGOTIATING/g, i + 1);
        await new Promise((r) => setTimeout(r, 100));
      }
      child.stdin.write(`GET /hello HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
      await until(/hello from origin|closed|errno/g, 1);
    } finally {
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      child.kill();
    }
    // Each completed handshake prints the leaf's verification once.
    const handshakes = (out.match(/depth=0 CN = origin\.test/g) ?? []).length;
    expect(handshakes).toBeGreaterThanOrEqual(1);
    expect(handshakes).toBeLessThanOrEqual(1 + 3);
  });
});

describe('WebSocket', () => {
  let wsOrigin: http.Server;
  let wss: WebSocketServer;
  let wsPort: number;
  let originOpen = 0;
  let originClosed = 0;

  beforeAll(async () => {
    wsOrigin = http.createServer();
    wss = new WebSocketServer({ server: wsOrigin });
    wss.on('connection', (socket) => {
      originOpen++;
      socket.on('close', () => originClosed++);
      socket.on('error', () => undefined);
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    });
    await new Promise<void>((resolve) => wsOrigin.listen(0, '127.0.0.1', resolve));
    wsPort = (wsOrigin.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const client of wss.clients) client.terminate();
    wsOrigin.closeAllConnections();
    await new Promise((resolve) => wsOrigin.close(resolve));
  });

  /** Opens ws://127.0.0.1:wsPort/ through the proxy with a raw socket; resolves once 101 arrived. */
  async function openRaw(): Promise<{ socket: Socket; conn: Promise<string> }> {
    const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort });
    await new Promise((resolve) => socket.once('connect', resolve));
    const conn = cli.connOf(socket.localPort!);
    const { head } = await rawUpgrade(socket, `http://127.0.0.1:${wsPort}/`, `127.0.0.1:${wsPort}`);
    expect(statusOf(head)).toBe(101);
    return { socket, conn };
  }

  // Regression (fixed): a browser upgrade that ws's server refuses (missing/invalid Sec-WebSocket-Key, unknown version) gets 400
  // from the `ws` package — but only after mitmlab already completed the upgrade with the origin. That upstream
  // WebSocket is never closed (a leak per bad request), and the flow has an http-request with no response and no
  // proxy-error. Fault: server/core/ws-relay.ts relayWebSocket (validates the browser's handshake last).
  // Fix sketch: validate before connecting upstream —
  // + const key = req.headers['sec-websocket-key']; const version = req.headers['sec-websocket-version'];
  // + if (!key || !/^[+/0-9A-Za-z]{22}==$/.test(key) || (version !== '13' && version !== '8')) {
  // +   refuse 400 'Bad WebSocket handshake' + proxy-error 'bad-request'; return; }
  // and, as a backstop, acceptor.on('wsClientError', (err, socket) => { upstream.terminate(); … }).
  it.each([
    ['a missing Sec-WebSocket-Key', 'Sec-WebSocket-Version: 13\r\n', 400],
    // RFC 6455 §4.4: an unsupported version gets 426 and the versions the server speaks.
    ['an unknown Sec-WebSocket-Version', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n', 426],
  ])('an upgrade with %s → %d, and no WebSocket is left open at the origin', async (_name, headers, status) => {
    const openBefore = originOpen - originClosed;
    const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort });
    await new Promise((resolve) => socket.once('connect', resolve));
    const { head } = await rawUpgrade(socket, `http://127.0.0.1:${wsPort}/`, `127.0.0.1:${wsPort}`, headers);
    socket.destroy();
    expect(statusOf(head)).toBe(status);
    for (let i = 0; i < 40 && originOpen - originClosed > openBefore; i++) await new Promise((r) => setTimeout(r, 50));
    expect(originOpen - originClosed).toBe(openBefore);
  });

  // Regression (fixed; same root cause as above): the leaked upstream WebSocket keeps the event loop busy, so after one such
  // request `mitmlab start` no longer exits on SIGTERM ("Clean shutdown on SIGINT/SIGTERM", issue 2 §6): it prints
  // "shutting down" and hangs. Fault: server/core/ws-relay.ts (the leak); server/core/proxy.ts close() also does not
  // track upgraded sockets. Fix: the ws-relay fix above, plus tracking relayed WebSockets in proxy close().
  it('after a refused WebSocket upgrade, SIGTERM still ends the process', async () => {
    const own = await startHostileCli(['--no-ui']);
    try {
      const text = await rawExchange(own.proxyPort, `GET http://127.0.0.1:${wsPort}/ HTTP/1.1\r\nHost: 127.0.0.1:${wsPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`, 2_000);
      expect(statusOf(text)).toBe(400);
      expect(await own.terminate(5_000)).toBe(0);
    } finally {
      await own.dispose();
    }
  });

  it.each([
    ['a frame claiming 2^63-1 bytes', 1009, wsFrame({ opcode: 2, mask: true, declaredLength: 0x7fffffffffffffffn, payload: Buffer.alloc(16) })],
    ['a frame over the 64 MiB message limit', 1009, wsFrame({ opcode: 2, mask: true, declaredLength: 100n * 1024n * 1024n, payload: Buffer.alloc(16) })],
    ['a text frame with invalid UTF-8', 1007, wsFrame({ opcode: 1, mask: true, payload: Buffer.from([0x68, 0x69, 0xc3, 0x28, 0xff]) })],
    ['a close frame with code 999', 1002, wsFrame({ opcode: 8, mask: true, payload: closePayload(999) })],
    ['a close frame with the reserved code 1005', 1002, wsFrame({ opcode: 8, mask: true, payload: closePayload(1005) })],
    ['an unmasked client frame', 1002, wsFrame({ opcode: 1, mask: false, payload: Buffer.from('hi') })],
  ])('%s: mitmlab closes that WebSocket with %i and records the close', async (_name, code, frame) => {
    const { socket, conn } = await openRaw();
    const answer = await collect(socket, frame, 3_000);
    // The answer is a close frame (opcode 8) carrying the protocol error code (RFC 6455 §7.4.1).
    const closeAt = answer.indexOf(String.fromCharCode(0x88));
    expect(closeAt).toBeGreaterThanOrEqual(0);
    expect(Buffer.from(answer.slice(closeAt + 2, closeAt + 4), 'latin1').readUInt16BE(0)).toBe(code);
    const id = await conn;
    await cli.waitForEvent('ws-close', (e) => e.conn === id);
  });

  it('an origin that drops in the middle of a fragmented message: the browser is dropped too (no clean close) and the close is recorded', async () => {
    const dropping = await startDroppingWsOrigin();
    try {
      const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort });
      await new Promise((resolve) => socket.once('connect', resolve));
      const conn = cli.connOf(socket.localPort!);
      const { head, rest } = await rawUpgrade(socket, `http://127.0.0.1:${dropping.port}/`, `127.0.0.1:${dropping.port}`);
      expect(statusOf(head)).toBe(101);
      // Closed by mitmlab (a FIN, or a reset), not by collect() giving up.
      let closedByPeer = false;
      socket.once('end', () => (closedByPeer = true));
      socket.once('error', () => (closedByPeer = true));
      const answer = rest.toString('latin1') + (await collect(socket, null, 5_000));
      expect(closedByPeer, 'mitmlab closed the connection').toBe(true);
      // The unfinished fragment is never passed on as a message, and the browser sees the drop as the origin caused
      // it (1006, RFC 6455 §7.1.5), not a close frame that would make it look clean.
      expect(answer).not.toContain('first half');
      expect(answer).not.toContain(String.fromCharCode(0x88));
      const id = await conn;
      const closed = await cli.waitForEvent('ws-close', (e) => e.conn === id);
      expect(closed.by).toBe('server');
      expect(closed.code).toBe(1006);
      expect(cli.eventsOf(id).filter((e) => e.type === 'ws-message')).toEqual([]);
    } finally {
      await dropping.close();
    }
  });
});

// Each case needs its own mitmlab: the defect kills the process, which would take the shared one down with it.
describe('clients that reset the connection right after mitmlab answered', () => {
  // Defect (crash): sockets handed over by node:http's 'connect' and 'upgrade' events have no 'error' listener
  // (Node removes its own before emitting). Every path that answers such a socket and waits for it to close —
  // refuse() for a bad CONNECT target, a loop, a non-WebSocket upgrade; relayTunnel's 502 to a non-TLS client — and
  // the windows where nobody listens (sniffClientHello removes its listener on settling; intercept() awaits the
  // upstream handshake and the mint before the TeeSocket attaches one) turn a client's RST into an uncaught
  // ECONNRESET that exits the process:
  //   Error: read ECONNRESET at TCP.onStreamRead … Emitted 'error' event on Socket instance
  // Fault: server/core/proxy.ts front.on('connect') / front.on('upgrade') / inner.on('upgrade').
  // Fix sketch: the first line of each of those handlers:
  // + socket.on('error', () => socket.destroy()); // the peer may reset at any time; every later owner adds its own
  const cases: Array<[string, (own: HostileCli, ports: { refused: number }) => string, RegExp]> = [
    ['a bad CONNECT target (400)', () => 'CONNECT ../x:443 HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400/],
    ['a CONNECT to mitmlab itself (403)', (own) => `CONNECT 127.0.0.1:${own.proxyPort} HTTP/1.1\r\n\r\n`, /^HTTP\/1\.1 403/],
    ['an h2c upgrade with a body (400)', () => 'POST http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nContent-Length: 3\r\n\r\nabc', /^HTTP\/1\.1 400/],
    ['non-TLS bytes for an origin that refuses (200, then 502)', (_own, ports) => `CONNECT 127.0.0.1:${ports.refused} HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n`, /502/],
  ];

  it.each(cases)('%s', async (_name, request, answered) => {
    const own = await startHostileCli(['--no-ui']);
    const refused = await closedPort();
    try {
      const socket = net.connect({ host: '127.0.0.1', port: own.proxyPort });
      socket.on('error', () => undefined);
      let text = '';
      await new Promise<void>((resolve) => {
        socket.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          if (answered.test(text)) resolve();
        });
        socket.once('close', () => resolve());
        socket.write(request(own, { refused }));
      });
      expect(text).toMatch(answered);
      socket.resetAndDestroy();
      await expectSurvived(own);
    } finally {
      await own.dispose();
    }
  });

  // Found by a crash hunt: a client that closed its side (FIN) after its ClientHello, while mitmlab waited for an
  // origin it had not seen, left its socket in CLOSE-WAIT for good (one file descriptor each).
  it('a ClientHello, then a FIN while the origin is still being reached: the connection is closed and recorded', async () => {
    const silent = await startSilentOrigin();
    try {
      const hello = await captureClientHello({ servername: HOST });
      const raw = await connectTunnel(cli.proxyPort, `${HOST}:${silent.port}`);
      raw.on('error', () => {});
      const conn = cli.connOf(raw.localPort!);
      raw.write(hello);
      for (let i = 0; i < 100 && silent.connections === 0; i++) await new Promise((r) => setTimeout(r, 20));
      raw.end();
      const id = await conn;
      // The origin attempt ends at --handshake-timeout (3 s here); the browser's socket must not outlive it.
      await cli.waitForEvent('connection-close', (e) => e.conn === id, 10_000);
      raw.destroy();
    } finally {
      await silent.close();
    }
  });

  it('a ClientHello, then a reset while the origin\'s TLS handshake is still pending', async () => {
    const silent = await startSilentOrigin();
    const own = await startHostileCli(['--no-ui', '--resolve', `${SLOW}:127.0.0.1`]);
    try {
      const hello = await captureClientHello({ servername: SLOW });
      const raw = await connectTunnel(own.proxyPort, `${SLOW}:${silent.port}`);
      raw.on('error', () => undefined);
      raw.write(hello);
      // The proxy connects upstream once it has the whole hello: then it is waiting on the silent origin.
      for (let i = 0; i < 100 && silent.connections === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(silent.connections).toBe(1);
      const conn = await own.connOf(raw.localPort!);
      raw.resetAndDestroy();
      await expectSurvived(own);
      // The attempt on the origin goes with the browser (it lingered to --handshake-timeout, then was recorded as the
      // origin's failure).
      for (let i = 0; i < 100 && silent.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(silent.open, own.output().slice(-2000)).toBe(0);
      await own.waitForEvent('connection-close', (e) => e.conn === conn);
      expect(own.eventsOf(conn).filter((e) => e.type === 'tls-failed' && e.leg === 'upstream')).toEqual([]);
    } finally {
      await own.dispose();
      await silent.close();
    }
  });
});

describe('an Upgrade other than WebSocket', () => {
  const haveCurl = requireTools('curl');

  // Regression (fixed): every h2c upgrade got 400, so `curl --http2 http://…` failed through mitmlab. A request
  // without a body is now answered as HTTP/1.1 (RFC 9110 §7.8: a server may ignore Upgrade), and the connection closes.
  it.skipIf(!haveCurl)('curl --http2 on an http:// URL gets the origin\'s answer over HTTP/1.1; Upgrade does not reach the origin', async () => {
    const result = await curl(`http://127.0.0.1:${plain.port}/echo?h2c`, { proxy: `http://127.0.0.1:${cli.proxyPort}`, extra: ['-v', '--http2'] });
    expect(result.stderr).toMatch(/> Upgrade: h2c/);
    expect(result.stderr).toMatch(/< HTTP\/1\.1 200/);
    expect(result.status).toBe(200);
    const echoed = JSON.parse(result.body) as { headers: Record<string, string> };
    expect(echoed.headers.upgrade).toBeUndefined();
    expect(echoed.headers['http2-settings']).toBeUndefined();
    const request = await cli.waitForEvent('http-request', (e) => e.url.endsWith('/echo?h2c'));
    // The record keeps what the client sent.
    expect(request.headers.some(([name, value]) => name.toLowerCase() === 'upgrade' && value === 'h2c')).toBe(true);
    const response = await cli.waitForEvent('http-response', (e) => e.id === request.id);
    expect(response.status).toBe(200);
  });

  // Found by a crash hunt: Node's server no longer watches such a socket, so a client that closed its side (FIN)
  // before the answer was recorded as answered (200), though it got nothing.
  it('a client that leaves (FIN) before the answer is recorded as client-aborted, as without the Upgrade', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort });
    await new Promise((resolve) => socket.once('connect', resolve));
    const conn = cli.connOf(socket.localPort!);
    socket.on('data', () => undefined);
    socket.write(`GET ${plainUrl('/slow?ms=800&h2c-fin')} HTTP/1.1\r\n${plainHost()}Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.end();
    const id = await conn;
    const aborted = await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.id !== null);
    expect(aborted.code).toBe('client-aborted');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(cli.eventsOf(id).filter((e) => e.type === 'http-response')).toEqual([]);
  });

  it('a client that keeps its side open after the answer is closed within the linger bound', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: cli.proxyPort, allowHalfOpen: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    const conn = cli.connOf(socket.localPort!);
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('end', () => undefined); // half-open on purpose: this client never ends its side
    socket.write(`GET ${plainUrl('/hello?linger')} HTTP/1.1\r\n${plainHost()}Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`);
    const id = await conn;
    await cli.waitForEvent('connection-close', (e) => e.conn === id, 10_000);
    expect(statusOf(text)).toBe(200);
    socket.destroy();
  });

  it('inside an intercepted connection too, and the connection then closes', async () => {
    const client = await tlsThroughProxy({ proxyPort: cli.proxyPort, authority: `${HOST}:${tlsOrigin.port}`, servername: HOST, ca: caPem });
    let text = '';
    client.on('data', (c: Buffer) => (text += c.toString('latin1')));
    const closed = new Promise((resolve) => client.once('close', resolve));
    client.write(`GET /hello HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`);
    await closed;
    expect(statusOf(text)).toBe(200);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(text).toContain('hello from origin');
  });
});

describe('a request still sending its body when the origin fails', () => {
  // Regression (fixed): the error page waited for the whole body. A client that stalled mid-upload got no answer and
  // the flow no outcome, however long the origin's failure had been known.
  it('gets the 504 as soon as the origin\'s handshake times out, recorded on its flow', async () => {
    // A first contact with the real origin: its certificate covers HOST, so a later tunnel to HOST's silent port
    // starts the browser's handshake at once and its request waits for the origin's outcome.
    const first = await tlsThroughProxy({ proxyPort: cli.proxyPort, authority: `${HOST}:${tlsOrigin.port}`, servername: HOST, ca: caPem });
    expect((await requestOver(first, '/hello', HOST)).status).toBe(200);
    first.destroy();
    const silent = await startSilentOrigin();
    try {
      const client = await tlsThroughProxy({ proxyPort: cli.proxyPort, authority: `${HOST}:${silent.port}`, servername: HOST, ca: caPem });
      const conn = cli.connOf(client.localPort!);
      let text = '';
      client.on('data', (c: Buffer) => (text += c.toString('latin1')));
      // Ten bytes promised, four sent, and then nothing: the client waits for an answer.
      client.write(`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 10\r\n\r\nabcd`);
      const closed = new Promise((resolve) => client.once('close', resolve));
      const answered = await Promise.race([closed.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 8_000))]);
      expect(answered, 'the connection stayed open without an answer').toBe(true);
      expect(statusOf(text)).toBe(504);
      const id = await conn;
      const error = await cli.waitForEvent('proxy-error', (e) => e.conn === id && e.id !== null);
      expect(error.code).toBe('upstream-timeout');
      const request = await cli.waitForEvent('http-request', (e) => e.conn === id);
      expect(request.id).toBe(error.id);
      const response = await cli.waitForEvent('http-response', (e) => e.id === request.id);
      expect(response.status).toBe(504);
    } finally {
      await silent.close();
    }
  });
});

/** The process is alive and serving; on failure the message carries what it printed (the stack of a crash). */
async function expectSurvived(own: HostileCli): Promise<void> {
  const served = await expectServing(own.proxyPort).then(
    () => null,
    (error: unknown) => error,
  );
  // A failed control request usually means the process is on its way out: give it the moment to exit.
  if (served) await Promise.race([new Promise((resolve) => own.child.once('exit', resolve)), new Promise((resolve) => setTimeout(resolve, 2_000))]);
  expect(own.alive(), `mitmlab exited:\n${own.output().slice(-1500)}`).toBe(true);
  expect(served).toBeNull();
}

/** A loopback port with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('seeded fuzz: mutated requests and ClientHellos, each on a fresh connection', () => {
  const CASES = 1_000; // per kind; 2,000 in all
  const CONCURRENCY = 32;
  let own: HostileCli;

  beforeAll(async () => {
    own = await startHostileCli(['--no-ui', '--upstream-ca', pki.rootPath, '--resolve', `${HOST}:127.0.0.1`, '--handshake-timeout', '1000']);
  });

  afterAll(async () => {
    await own?.dispose();
  });

  /** Sends one case, half-closes, reads everything until the proxy closes (or `capMs`), and never resets. */
  function fuzzCase(bytes: Buffer, capMs = 2_500): Promise<void> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: own.proxyPort });
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve();
      };
      const timer = setTimeout(finish, capMs);
      socket.on('data', () => undefined);
      socket.once('error', finish);
      socket.once('close', finish);
      socket.once('connect', () => socket.end(bytes));
    });
  }

  async function runFuzz(seed: number, makeCase: (random: () => number) => Buffer): Promise<void> {
    const random = seededRandom(seed);
    const inputs = Array.from({ length: CASES }, () => makeCase(random));
    const recent: Array<{ index: number; bytes: Buffer }> = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < inputs.length && own.alive()) {
        const index = next++;
        recent.push({ index, bytes: inputs[index]! });
        if (recent.length > CONCURRENCY * 2) recent.shift();
        await fuzzCase(inputs[index]!);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const context = (): string =>
      `seed ${seed}; last cases:\n${recent.map((r) => `#${r.index} ${r.bytes.toString('hex').slice(0, 400)}`).join('\n')}\n${own.output().slice(-2000)}`;
    expect(own.alive(), context()).toBe(true);
    expect(next, context()).toBe(CASES);
    await expectServing(own.proxyPort);
  }

  it('1,000 mutations of a valid proxy request (absolute form, headers, body)', async () => {
    await expectServing(own.proxyPort);
    const before = own.events().length;
    const base = [
      Buffer.from(`POST http://127.0.0.1:${plain.port}/echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"a":"b c"}`),
      Buffer.from(`POST http://127.0.0.1:${plain.port}/echo HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n`),
      Buffer.from(`GET http://127.0.0.1:${plain.port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
      Buffer.from(`CONNECT 127.0.0.1:${plain.port} HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    ];
    const dictionary = ['\r\n', '\n', '\r\n\r\n', ':', ' ', '\t', '\0', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 99999999999\r\n', 'Content-Length: -1\r\n', 'Expect: 100-continue\r\n', 'HTTP/1.0', 'HTTP/2.0', '%00', '[::1]', '0\r\n\r\n', 'ffffffff\r\n', 'Upgrade: websocket\r\n', 'CONNECT ']
      .map((w) => Buffer.from(w, 'latin1'));
    await runFuzz(0x5eed_0001, (random) => mutate(base[pick(random, base.length)]!, random, dictionary));
    // Nothing recorded before the fuzz was lost, and every line of the log still parses.
    const after = own.events();
    expect(after.length).toBeGreaterThan(before);
    expect(after.slice(0, before).every((e: ProxyEvent) => typeof e.type === 'string')).toBe(true);
  }, 120_000);

  it('1,000 mutations of CONNECT + a valid ClientHello', async () => {
    const hello = await captureClientHello({ servername: HOST });
    const head = Buffer.from(`CONNECT ${HOST}:${tlsOrigin.port} HTTP/1.1\r\nHost: ${HOST}:${tlsOrigin.port}\r\n\r\n`);
    await runFuzz(0x5eed_0002, (random) => {
      // Mostly the hello is mutated (the CONNECT stays valid, so the bytes reach the TLS sniffer); sometimes both.
      const mutatedHello = mutate(hello, random);
      return random() < 0.85 ? Buffer.concat([head, mutatedHello]) : mutate(Buffer.concat([head, hello]), random);
    });
    const failures = own.events().filter((e) => e.type === 'tls-failed' && e.leg === 'client');
    expect(failures.length).toBeGreaterThan(0);
    // Every failure names a cause from the closed list and says something a student can act on.
    for (const failure of failures) expect(failure.type === 'tls-failed' && failure.message.length).toBeGreaterThan(20);
  }, 120_000);
});
