import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBlobSink } from '../../../server/events/blob-sink.js';
import { parseFilter } from '../../../server/protocol/filter.js';
import { exportSession, type ExportOptions } from '../../../server/store/export.js';
import { buildHarEntry, emptyConnTls, emptyFlowEvents, type HarEntry } from '../../../server/store/har-entry.js';
import { SessionStore } from '../../../server/store/session-store.js';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import { bodyRef, request, response, sampleSession } from './sample-events.js';

const harValidator = createRequire(import.meta.url)('har-validator') as { har(data: unknown): Promise<unknown> };

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mitmlab-har-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function recordSample(): Promise<string> {
  const store = await SessionStore.open({ dataDir, session: 'har', onWarning: () => {} });
  for (const event of sampleSession(store.blobs)) store.record(event);
  await store.close();
  return store.id;
}

async function exportText(options: Partial<ExportOptions> & Pick<ExportOptions, 'format'>): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  await exportSession({ dataDir, session: 'latest', ...options }, out);
  out.end();
  return Buffer.concat(chunks).toString('utf8');
}

interface HarDoc {
  log: { entries: HarEntry[]; _tlsErrors: Array<Record<string, unknown>>; creator: { name: string } };
}

describe('HAR export', () => {
  it('produces a HAR 1.2 document that har-validator accepts', async () => {
    await recordSample();
    const har = JSON.parse(await exportText({ format: 'har' })) as HarDoc;
    await expect(harValidator.har(har)).resolves.toBeTruthy();
    expect(har.log.creator.name).toBe('mitmlab');
    expect(har.log.entries.map((e) => e._flowId)).toEqual(['c1.1', 'c1.2', 'c1.3', 'c1.4', 'c2.1']);
  });

  it('writes text bodies as text, binary ones as base64, and explains capped ones', async () => {
    await recordSample();
    const { log } = JSON.parse(await exportText({ format: 'har' })) as HarDoc;
    const [json, gzip, post, capped] = log.entries;
    expect(json!.response.content).toEqual({ size: 17, mimeType: 'application/json; charset=utf-8', text: '{"hello":"world"}' });
    expect(gzip!.response.content.text).toBe('compressed '.repeat(50));
    expect(gzip!.response.content.size).toBe(550);
    expect(gzip!.response.content.compression).toBe(550 - gzip!.response.bodySize);
    expect(gzip!.response.bodySize).toBeLessThan(100);
    expect(post!.request.postData).toEqual({ mimeType: 'application/octet-stream', text: 'AAECA//+gIE=', _encoding: 'base64' });
    expect(post!.response.content).toMatchObject({ encoding: 'base64', text: 'AAECA//+gIE=', size: 8 });
    expect(capped!.response.content.comment).toMatch(/--body-cap: the first 100 bytes \(5000 bytes/);
    expect(capped!.response.content.text).toBe('x'.repeat(100));
  });

  it('fills request details, cookies, timings and both TLS legs', async () => {
    await recordSample();
    const { log } = JSON.parse(await exportText({ format: 'har' })) as HarDoc;
    const entry = log.entries[0]!;
    expect(entry.startedDateTime).toBe('2026-11-22T05:10:00.010Z');
    expect(entry.request).toMatchObject({
      method: 'GET',
      url: 'https://example.test/api?x=1&y=two',
      httpVersion: 'HTTP/1.1',
      queryString: [{ name: 'x', value: '1' }, { name: 'y', value: 'two' }],
      cookies: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }],
    });
    expect(entry.request.headersSize).toBe('GET /api?x=1&y=two HTTP/1.1\r\nHost: example.test\r\nCookie: a=1; b=2\r\nUser-Agent: test\r\n\r\n'.length);
    expect(entry.response.cookies).toEqual([{ name: 'sid', value: 'abc', path: '/', httpOnly: true, secure: true }]);
    expect(entry.timings).toEqual({ blocked: -1, dns: -1, connect: 3, ssl: -1, send: 1, wait: 5, receive: 2 });
    expect(entry.time).toBe(11);
    expect(entry._tls.client).toMatchObject({
      version: 'TLSv1.3',
      cipher: 'TLS_AES_128_GCM_SHA256',
      sni: 'example.test',
      alpn: 'http/1.1',
      ja3: 'a0e9f5d64349fb13191bc781f81f42e1',
      ja4: 't13d0303h1_55b375c5d22e_06cda9e17597',
      clientHello: { cipherSuites: [0x1301, 0x1302, 0xc02f], extensions: [0, 16, 43], supportedGroups: [29, 23], signatureAlgorithms: [0x0403, 0x0804], supportedVersions: [0x0304, 0x0303], alpn: ['http/1.1'] },
      certificates: [{ subject: 'CN=example.test', issuer: 'CN=mitmlab CA', san: ['DNS:example.test'] }],
    });
    expect(entry._tls.client).not.toHaveProperty('verification');
    expect(entry._tls.upstream).toMatchObject({
      certificates: [{ issuer: 'CN=Origin Root' }],
      verification: { trusted: true, errorCode: null, insecureAllowed: false },
    });
  });

  it('exports WebSocket frames in Chrome shape and failed handshakes in _tlsErrors', async () => {
    await recordSample();
    const { log } = JSON.parse(await exportText({ format: 'har' })) as HarDoc;
    const ws = log.entries[4]!;
    expect(ws.request.url).toBe('wss://ws.example.test/socket');
    expect(ws.response.status).toBe(101);
    expect(ws._resourceType).toBe('websocket');
    expect(ws._webSocketMessages).toEqual([
      { type: 'send', time: (Date.UTC(2026, 10, 22, 5, 10, 0) + 120) / 1000, opcode: 1, data: 'hello' },
      { type: 'receive', time: (Date.UTC(2026, 10, 22, 5, 10, 0) + 125) / 1000, opcode: 2, data: 'AQID' },
    ]);
    expect(log._tlsErrors).toEqual([
      {
        time: '2026-11-22T05:10:00.205Z',
        leg: 'client',
        host: 'refused.test',
        cause: 'cert-rejected',
        message: "The browser refused mitmlab's certificate for refused.test: it does not trust the lab CA.",
        alert: 'unknown_ca',
        connection: 'c3',
      },
    ]);
  });

  it('keeps a response that arrives after its connection closed', async () => {
    const store = await SessionStore.open({ dataDir, onWarning: () => {} });
    store.record(request('c1.1', 'c1', 'https://a.test/late', 0));
    store.record({ type: 'connection-close', conn: 'c1', bytesIn: 0, bytesOut: 0, at: 5 });
    store.record(request('c2.1', 'c2', 'https://a.test/other', 6));
    store.record(response('c1.1', 'c1', 7));
    store.record({ type: 'connection-close', conn: 'c2', bytesIn: 0, bytesOut: 0, at: 60_000 });
    await store.close();
    const { log } = JSON.parse(await exportText({ format: 'har' })) as HarDoc;
    expect(log.entries.map((e) => [e._flowId, e.response.status])).toEqual([
      ['c1.1', 200],
      ['c2.1', 0],
    ]);
  });

  it('lists entries in the order their requests started, not the order they completed (HAR 1.2 prefers it)', async () => {
    const store = await SessionStore.open({ dataDir, onWarning: () => {} });
    const started = (id: string, at: number) => request(id, id.split('.')[0]!, `https://a.test/${id}`, at);
    const answered = (id: string, startedAt: number, at: number) =>
      response(id, id.split('.')[0]!, at, { timings: { startedAt, connect: -1, ssl: -1, send: 0, wait: at - startedAt, receive: 0, total: at - startedAt } });
    // A slow download (c1.1) starts first and ends last; two quick requests start and end while it runs; a WebSocket
    // (c4.1) opens before the download ends and closes after it.
    const events: ProxyEvent[] = [
      started('c1.1', 100),
      started('c2.1', 110),
      answered('c2.1', 110, 120),
      started('c3.1', 130),
      started('c4.1', 135),
      { type: 'ws-open', id: 'c4.1', conn: 'c4', url: 'wss://a.test/ws', protocol: null, extensions: null, at: 136 },
      answered('c3.1', 130, 140),
      answered('c1.1', 100, 500),
      answered('c4.1', 135, 136),
      { type: 'ws-close', id: 'c4.1', conn: 'c4', code: 1000, reason: '', by: 'client', at: 900 },
    ];
    for (const event of events) store.record(event);
    await store.close();
    const { log } = JSON.parse(await exportText({ format: 'har' })) as HarDoc;
    expect(log.entries.map((e) => e._flowId)).toEqual(['c1.1', 'c2.1', 'c3.1', 'c4.1']);
    const starts = log.entries.map((e) => Date.parse(e.startedDateTime));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });

  it('keeps only matching flows with a filter', async () => {
    await recordSample();
    const parsed = parseFilter('~m POST');
    if (!parsed.ok) throw new Error(parsed.error);
    const { log } = JSON.parse(await exportText({ format: 'har', filter: parsed.match })) as HarDoc;
    expect(log.entries.map((e) => e._flowId)).toEqual(['c1.3']);
    expect(log._tlsErrors).toEqual([]);
  });

  it('~failed keeps a flow by its final state: a response recorded after its connection closed is not a failure', async () => {
    const store = await SessionStore.open({ dataDir, onWarning: () => {} });
    const open = (conn: string, at: number): ProxyEvent => ({ type: 'connection-open', conn, client: { address: '127.0.0.1', port: 1 }, mode: 'explicit', at });
    const close = (conn: string, at: number): ProxyEvent => ({ type: 'connection-close', conn, bytesIn: 1, bytesOut: 1, at });
    // c1: the body was decoded after the client left, so the response is written after the close (as the proxy does).
    for (const event of [open('c1', 1), request('c1.1', 'c1', 'https://a.test/late', 2), close('c1', 3), response('c1.1', 'c1', 4)]) store.record(event);
    // c2: two pipelined requests still open when the connection closed: both failed.
    for (const event of [open('c2', 5), request('c2.1', 'c2', 'https://a.test/p1', 6), request('c2.2', 'c2', 'https://a.test/p2', 7), close('c2', 8)]) store.record(event);
    await store.close();
    const parsed = parseFilter('~failed');
    if (!parsed.ok) throw new Error(parsed.error);
    const { log } = JSON.parse(await exportText({ format: 'har', filter: parsed.match })) as HarDoc;
    expect(log.entries.map((e) => e._flowId).sort()).toEqual(['c2.1', 'c2.2']);
  });

  it('a response cut short carries why in response._error, as a response that never came does', async () => {
    const store = await SessionStore.open({ dataDir, onWarning: () => {} });
    const cut: ProxyEvent = { type: 'proxy-error', conn: 'c1', id: 'c1.1', code: 'client-aborted', status: null, message: 'The client disconnected before receiving the whole response.', at: 3 };
    for (const event of [request('c1.1', 'c1', 'https://a.test/slow', 1), cut, response('c1.1', 'c1', 4), request('c1.2', 'c1', 'https://a.test/fine', 5), response('c1.2', 'c1', 6)]) store.record(event);
    await store.close();
    const { log } = JSON.parse(await exportText({ format: 'har' })) as HarDoc;
    const entry = (id: string) => log.entries.find((e) => e._flowId === id)!;
    expect(entry('c1.1').response).toMatchObject({ status: 200, _error: 'The client disconnected before receiving the whole response.' });
    expect(entry('c1.2').response._error).toBeUndefined();
    await expect(harValidator.har({ log })).resolves.toBeTruthy();
  });

  it('streams: entries of completed flows leave before the log is read to its end', async () => {
    const store = await SessionStore.open({ dataDir, onWarning: () => {} });
    for (let i = 0; i < 3000; i++) {
      store.record(request(`c${i}.1`, `c${i}`, `https://a.test/${i}`, i));
      store.record(response(`c${i}.1`, `c${i}`, i + 1));
    }
    await store.close();
    const out = new PassThrough({ highWaterMark: 1024 });
    let lastProgress = 0;
    let progressAtFirstChunk = -1;
    let total = 0;
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => {
      if (progressAtFirstChunk < 0 && chunk.includes('"_flowId"')) progressAtFirstChunk = lastProgress;
      chunks.push(chunk);
    });
    await exportSession({ dataDir, session: 'latest', format: 'har', onProgress: (read, size) => ((lastProgress = read / size), (total = size)) }, out);
    out.end();
    expect(total).toBeGreaterThan(0);
    // The first entry went out while most of the log was still unread.
    expect(progressAtFirstChunk).toBeGreaterThanOrEqual(0);
    expect(progressAtFirstChunk).toBeLessThan(0.5);
    const har = JSON.parse(Buffer.concat(chunks).toString()) as HarDoc;
    expect(har.log.entries).toHaveLength(3000);
  });
});

describe('buildHarEntry', () => {
  const blobs = new MemoryBlobSink();

  it('gives a request without response status 0 and the error', () => {
    const flow = emptyFlowEvents('c9.1', 'c9');
    flow.request = request('c9.1', 'c9', 'https://down.test/', 1000);
    flow.errors.push({ type: 'proxy-error', conn: 'c9', id: 'c9.1', code: 'upstream-unreachable', status: null, message: 'down.test did not answer.', at: 1500 });
    const entry = buildHarEntry(flow, emptyConnTls(), () => null)!;
    expect(entry.response).toMatchObject({ status: 0, _error: 'down.test did not answer.', bodySize: -1 });
    expect(entry.time).toBe(500);
    expect(entry._tls).toEqual({ client: null, upstream: null });
  });

  it("counts a plain-http request's head with the absolute URL the browser sent the proxy", () => {
    // RFC 9112 §3.2.2: a client sends a proxy the absolute-form; inside a CONNECT tunnel it sends the origin-form.
    for (const [url, line] of [
      ['http://plain.test:8000/a?b=1', 'GET http://plain.test:8000/a?b=1 HTTP/1.1'],
      ['https://tls.test/a?b=1', 'GET /a?b=1 HTTP/1.1'],
    ] as const) {
      const flow = emptyFlowEvents('c9.1', 'c9');
      flow.request = request('c9.1', 'c9', url, 0);
      const host = new URL(url).host;
      const entry = buildHarEntry(flow, emptyConnTls(), () => null)!;
      expect(entry.request.headersSize, url).toBe(`${line}\r\nHost: ${host}\r\n\r\n`.length);
    }
  });

  it('counts no body bytes for a HEAD or 304 answer, whatever its Content-Length says', () => {
    for (const [method, status] of [['HEAD', 200], ['GET', 304]] as const) {
      const flow = emptyFlowEvents('c9.1', 'c9');
      flow.request = request('c9.1', 'c9', 'https://a.test/', 0, { method });
      flow.response = response('c9.1', 'c9', 5, { status, headers: [['Content-Length', '5200']], body: null });
      const entry = buildHarEntry(flow, emptyConnTls(), () => null)!;
      expect(entry.response.bodySize, method).toBe(0);
      expect(entry.response.content.size, method).toBe(0);
    }
  });

  // Regression (fixed): URLSearchParams turned each non-UTF-8 escape (%E9, a Latin-1 form) into U+FFFD.
  it('lists query and form pairs decoded, keeping as written those whose escapes are not UTF-8', async () => {
    const form = Buffer.from('name=J%E9r%F4me&city=S%C3%A3o+Paulo&flag&sale=100%25+off%&mixed=%E9t%C3%A9%E9%C3%A9');
    const sha256 = blobs.put(form);
    const flow = emptyFlowEvents('c9.1', 'c9');
    flow.request = request('c9.1', 'c9', 'https://a.test/p?q=%E9t%E9&x=a+b&y=%C3%A9#frag', 0, {
      method: 'POST',
      headers: [['Host', 'a.test'], ['Content-Type', 'application/x-www-form-urlencoded']],
      body: { sha256, size: form.length, wireSize: form.length, truncated: false, encoding: null, decoded: false, mimeType: 'application/x-www-form-urlencoded' },
    });
    const entry = buildHarEntry(flow, emptyConnTls(), (sha) => (sha === sha256 ? form : null))!;
    expect(entry.request.queryString).toEqual([{ name: 'q', value: '%E9t%E9' }, { name: 'x', value: 'a b' }, { name: 'y', value: 'é' }]);
    expect(entry.request.postData?.params).toEqual([{ name: 'name', value: 'J%E9r%F4me' }, { name: 'city', value: 'São Paulo' }, { name: 'flag', value: '' }, { name: 'sale', value: '100% off%' }, { name: 'mixed', value: '%E9té%E9é' }]);
  });

  it('gives a multipart form as text with its fields and files in params, and one with a binary file as base64', async () => {
    const boundary = '----WebKitFormBoundaryLab7';
    const part = (head: string, value: string | Buffer) => [Buffer.from(`--${boundary}\r\n${head}\r\n\r\n`), Buffer.from(value), Buffer.from('\r\n')];
    const form = (file: Buffer) =>
      Buffer.concat([
        ...part('Content-Disposition: form-data; name="username"', 'alice'),
        ...part('Content-Disposition: form-data; name="password"', 'Hunter2pw'),
        ...part('Content-Disposition: form-data; name="avatar"; filename="f.txt"\r\nContent-Type: text/plain', file),
        Buffer.from(`--${boundary}--\r\n`),
      ]);
    const entryFor = (body: Buffer) => {
      const flow = emptyFlowEvents('c9.1', 'c9');
      const ref = bodyRef(blobs, body, { mimeType: 'multipart/form-data' });
      flow.request = request('c9.1', 'c9', 'https://a.test/login', 0, { method: 'POST', headers: [['Host', 'a.test'], ['Content-Type', `multipart/form-data; boundary=${boundary}`]], body: ref });
      return buildHarEntry(flow, emptyConnTls(), (sha) => (sha === ref.sha256 ? body : null))!;
    };
    const text = entryFor(form(Buffer.from('hello file')));
    expect(text.request.postData).toMatchObject({ mimeType: `multipart/form-data; boundary=${boundary}`, text: form(Buffer.from('hello file')).toString() });
    expect(text.request.postData!._encoding).toBeUndefined();
    expect(text.request.postData!.params).toEqual([
      { name: 'username', value: 'alice' },
      { name: 'password', value: 'Hunter2pw' },
      { name: 'avatar', value: 'hello file', fileName: 'f.txt', contentType: 'text/plain' },
    ]);
    await expect(harValidator.har({ log: { version: '1.2', creator: { name: 't', version: '1' }, entries: [text] } })).resolves.toBeTruthy();
    const binary = entryFor(form(Buffer.from([0xff, 0xfe, 0x00, 0x81])));
    expect(binary.request.postData).toMatchObject({ _encoding: 'base64' });
    expect(binary.request.postData!.params).toBeUndefined();
  });

  it('says so when a body blob is missing', () => {
    const flow = emptyFlowEvents('c9.1', 'c9');
    flow.request = request('c9.1', 'c9', 'https://a.test/', 0);
    flow.response = response('c9.1', 'c9', 5, { body: { sha256: 'ab'.repeat(32), size: 3, wireSize: 3, truncated: false, encoding: null, decoded: false, mimeType: 'text/plain' } });
    const entry = buildHarEntry(flow, emptyConnTls(), () => null)!;
    expect(entry.response.content.text).toBeUndefined();
    expect(entry.response.content.comment).toMatch(/not stored/);
  });

  it('keeps a capped UTF-8 body as text even when the cap split a character', () => {
    const data = Buffer.from('héllo wörld');
    const cut = data.subarray(0, data.indexOf(Buffer.from('ö')) + 1);
    const flow = emptyFlowEvents('c9.1', 'c9');
    flow.request = request('c9.1', 'c9', 'https://a.test/', 0);
    const sha = blobs.put(cut);
    flow.response = response('c9.1', 'c9', 5, { body: { sha256: sha, size: cut.length, wireSize: 100, truncated: true, encoding: null, decoded: false, mimeType: 'text/plain' } });
    const entry = buildHarEntry(flow, emptyConnTls(), (s) => (s === sha ? cut : null))!;
    expect(entry.response.content.text).toBe('héllo w');
  });

  it('returns null for a flow with nothing to show', () => {
    expect(buildHarEntry(emptyFlowEvents('x', 'c'), emptyConnTls(), () => null)).toBeNull();
  });
});
