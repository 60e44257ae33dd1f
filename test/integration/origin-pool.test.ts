// Origin connections handed from a closed browser connection to the next one (server/core/origin-pool.ts): the
// origin sees one TLS connection carry both, and the record says where that connection's handshake is.

import { readFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harEntries } from '../helpers/har.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { curl } from '../helpers/curl.js';
import { tlsThroughProxy } from '../helpers/proxy-client.js';
import { requireTools } from '../helpers/tools.js';

const HOST = 'origin.test';
let pki: TestPki;
let mitm: TestMitmlab;
const haveCurl = requireTools('curl');

beforeAll(async () => {
  pki = await createTestPki({ names: [HOST] });
  mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
});

afterAll(async () => {
  await mitm?.close();
});

async function withOrigin<T>(options: { keepAliveTimeout?: number }, body: (origin: Origin) => Promise<T>): Promise<T> {
  const origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem, tlsOptions: options });
  try {
    return await body(origin);
  } finally {
    await origin.close();
  }
}

/**
 * A bare TLS origin on loopback whose connections `serve` answers (or not) byte by byte: for what a Node server will
 * not do. Runs `body` with its port, then closes it and every connection it still has.
 */
async function withBareOrigin(serve: (socket: tls.TLSSocket) => void, body: (port: number) => Promise<void>): Promise<void> {
  const open = new Set<tls.TLSSocket>();
  const origin = tls.createServer({ cert: pki.valid.certPem, key: pki.valid.keyPem }, (socket) => {
    open.add(socket);
    socket.on('error', () => {});
    serve(socket);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  try {
    await body((origin.address() as AddressInfo).port);
  } finally {
    for (const socket of open) socket.destroy();
    await new Promise((resolve) => origin.close(resolve));
  }
}

interface RawBrowser {
  /** host:port of the origin, for the Host field. */
  authority: string;
  write(text: string): void;
  /** Everything the connection received so far (latin1). */
  received(): string;
  /** Waits until `done`, bounded at 10 s. */
  until(done: () => boolean): Promise<void>;
}

/** A browser connection through mitmlab to the origin on `port`, written to raw (keep-alive, pipelining). */
async function withRawBrowser(port: number, body: (browser: RawBrowser) => Promise<void>): Promise<void> {
  const authority = `${HOST}:${port}`;
  const socket = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority, servername: HOST, ca: await readFile(mitm.caPath, 'utf8') });
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  try {
    await body({
      authority,
      write: (text) => void socket.write(text),
      received: () => received,
      until,
    });
  } finally {
    socket.destroy();
  }
}

async function get(origin: Origin, path: string, extra: string[] = []): Promise<string> {
  const result = await curl(`https://${HOST}:${origin.port}${path}`, { proxy: mitm.proxyUrl, cacert: mitm.caPath, extra });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(200);
  const request = await mitm.waitFor('http-request', (e) => e.url.endsWith(path));
  await mitm.waitFor('connection-close', (e) => e.conn === request.conn);
  return request.conn;
}

/** Waits until `done`, bounded at 10 s. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
}

/** Sends one request on a kept-alive browser connection and waits, bounded, for its status line; returns them all. */
async function sendOn(browser: Pick<RawBrowser, 'write' | 'received' | 'until'>, head: string, body = ''): Promise<string[]> {
  const statusLines = () => browser.received().match(/HTTP\/1\.1 \d+/g) ?? [];
  const answers = statusLines().length;
  browser.write(`${head}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await browser.until(() => statusLines().length > answers);
  return statusLines();
}

interface SilentIdleCloser {
  /** Serves one origin connection (TLS or TCP). */
  serve(socket: Duplex & { remotePort?: number }): void;
  /** The client port of each answered request. */
  ports: number[];
  /** Requests that met a closed connection instead of an answer. */
  closedUnanswered(): number;
  closeAll(): Promise<void>;
}

/**
 * An origin that announces no idle limit and closes a connection, unanswered, when a request comes after 2 s of
 * idleness (since it opened or last answered): a silent idle close crossing the request (here made certain).
 */
function silentIdleCloser(): SilentIdleCloser {
  const ports: number[] = [];
  const open = new Set<Duplex>();
  let closed = 0;
  return {
    ports,
    closedUnanswered: () => closed,
    serve(socket) {
      open.add(socket);
      let idleSince = performance.now();
      socket.on('data', () => {
        if (performance.now() - idleSince > 2_000) {
          closed++;
          return socket.destroy();
        }
        ports.push(socket.remotePort!);
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n');
        idleSince = performance.now();
      });
    },
    async closeAll() {
      for (const socket of open) socket.destroy();
    },
  };
}

/**
 * A GET, a form POST right after it (the same origin connection), and one more after 2.3 s idle: a POST cannot be sent
 * twice, so mitmlab does not risk it on a connection idle that long, and it goes on a new one.
 */
async function expectFreshConnectionForLatePost(origin: SilentIdleCloser, send: (head: string, body?: string) => Promise<string[]>, path: string): Promise<void> {
  const form = (n: number) => `POST ${path}?n=${n} HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded`;
  expect(await send(`GET ${path}?n=1 HTTP/1.1`)).toEqual(['HTTP/1.1 200']);
  expect(await send(form(2), 'user=ada&password=lab')).toHaveLength(2);
  expect(origin.ports[1]).toBe(origin.ports[0]);
  await new Promise((resolve) => setTimeout(resolve, 2_300));
  expect(await send(form(3), 'user=ada&password=lab')).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
  expect(origin.ports).toHaveLength(3);
  expect(origin.ports[2]).not.toBe(origin.ports[0]);
  expect(origin.closedUnanswered()).toBe(0);
}

const upstreamHandshakes = (conn: string) => mitm.ofType('tls-established').filter((e) => e.conn === conn && e.leg === 'upstream');


/** Waits (bounded) until the pool holds `size` idle connections. */
async function poolSize(size: number): Promise<void> {
  for (let i = 0; i < 200 && mitm.ctx.originPool.size !== size; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  expect(mitm.ctx.originPool.size).toBe(size);
}

describe.skipIf(!haveCurl)('origin connections kept across browser connections', () => {
  it('a second browser connection reuses the first one\'s origin connection, and says so', async () => {
    await withOrigin({}, async (origin) => {
      const first = await get(origin, '/hello?pool=1');
      await poolSize(1);
      // The first connection's record is complete when it closes, though its origin connection lives on.
      const transcript = await mitm.waitFor('tls-transcript', (e) => e.conn === first && e.leg === 'upstream');
      expect(transcript.steps.map((s) => s.label)).toContain('ClientHello');
      const second = await get(origin, '/hello?pool=2');
      expect(second).not.toBe(first);
      // The origin's own view: both requests came over one TCP connection (one client port).
      const ports = origin.seen.filter((r) => r.url.startsWith('/hello?pool=')).map((r) => r.clientPort);
      expect(ports).toHaveLength(2);
      expect(ports[1]).toBe(ports[0]);
      expect(upstreamHandshakes(first)).toHaveLength(1);
      expect(upstreamHandshakes(second)).toHaveLength(0);
      const reused = await mitm.waitFor('upstream-reused', (e) => e.conn === second);
      expect(reused).toMatchObject({ from: first, host: HOST });
      // The second connection still has its certificates on record: the origin's chain and the forged one.
      const certificates = mitm.ofType('tls-certificates').find((e) => e.conn === second)!;
      expect(certificates.verification.trusted).toBe(true);
      expect(certificates.upstream[0]!.san).toContain(`DNS:${HOST}`);
      // HAR: the second request's upstream leg is the first connection's handshake; it opened no connection.
      const entries = await harEntries(mitm);
      const [a, b] = ['/hello?pool=1', '/hello?pool=2'].map((p) => entries.find((e) => e.request.url.endsWith(p))!);
      expect(b!._tls?.upstream?.version).toBe(a!._tls?.upstream?.version);
      expect(b!._tls?.upstream?.cipher).toBe(a!._tls?.upstream?.cipher);
      expect(b!._tls?.upstream?.ja3).toBe(a!._tls?.upstream?.ja3);
      expect(b!.timings.connect).toBe(-1);
      expect(b!.timings.ssl).toBe(-1);
    });
  });

  it('a connection the origin closed while idle leaves the pool, and the next browser connection opens its own', async () => {
    // A bare origin that answers every request and closes each connection 1.5 s after it opened, announcing nothing.
    const serve = (socket: tls.TLSSocket): void => {
      socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n'));
      setTimeout(() => socket.end(), 1_500);
    };
    await withBareOrigin(serve, async (port) => {
      const fetch = async (path: string): Promise<string> => {
        const result = await curl(`https://${HOST}:${port}${path}`, { proxy: mitm.proxyUrl, cacert: mitm.caPath });
        expect(result.status).toBe(200);
        const request = await mitm.waitFor('http-request', (e) => e.url.endsWith(path));
        await mitm.waitFor('connection-close', (e) => e.conn === request.conn);
        return request.conn;
      };
      const first = await fetch('/idle?n=1');
      await poolSize(1);
      // The origin's close takes it out of the pool at once, not at its next use.
      await poolSize(0);
      const second = await fetch('/idle?n=2');
      expect(mitm.ofType('upstream-reused').some((e) => e.conn === second)).toBe(false);
      expect(upstreamHandshakes(first)).toHaveLength(1);
      expect(upstreamHandshakes(second)).toHaveLength(1);
    });
  });

  it('keeps a connection no longer than the idle limit the origin announced (Keep-Alive: timeout=N), less a margin', async () => {
    // Node's server announces whole seconds: 1 s leaves nothing after the margin, so a browser connection that came
    // just as the origin closes cannot inherit it (it would get a reset, and a 502).
    await withOrigin({ keepAliveTimeout: 1_000 }, async (origin) => {
      const first = await get(origin, '/hello?announced=1');
      // Not kept at all (the origin is still a second away from closing it).
      expect(mitm.ctx.originPool.size).toBe(0);
      const second = await get(origin, '/hello?announced=2');
      expect(mitm.ofType('upstream-reused').some((e) => e.conn === second || e.from === first)).toBe(false);
    });
    await withOrigin({ keepAliveTimeout: 5_000 }, async (origin) => {
      const first = await get(origin, '/hello?announced=3');
      await poolSize(1);
      const second = await get(origin, '/hello?announced=4');
      expect(mitm.ofType('upstream-reused').find((e) => e.conn === second)?.from).toBe(first);
    });
  });

  it('one origin connection serves a dozen browser connections in turn, without piling listeners on it', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      await withOrigin({}, async (origin) => {
        const conns: string[] = [];
        for (let i = 0; i < 12; i++) conns.push(await get(origin, `/hello?turn=${i}`));
        const ports = new Set(origin.seen.filter((r) => r.url.startsWith('/hello?turn=')).map((r) => r.clientPort));
        expect(ports.size).toBe(1);
        // Each later connection names the one that opened the origin connection, not the one before it.
        const reused = mitm.ofType('upstream-reused').filter((e) => conns.includes(e.conn));
        expect(reused).toHaveLength(11);
        expect(new Set(reused.map((e) => e.from))).toEqual(new Set([conns[0]]));
        await poolSize(1);
      });
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });

  it('a request without a body that finds its kept connection closed by the origin is sent again on a new one; a POST is not', async () => {
    // A bare origin that answers the first request on each connection and closes it, without answering, when a second
    // one comes: the moment an idle limit runs out as a request is sent.
    let connections = 0;
    const serve = (socket: tls.TLSSocket): void => {
      connections++;
      let requests = 0;
      socket.on('data', () => {
        if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n');
        else socket.destroy();
      });
    };
    await withBareOrigin(serve, async (port) => {
      const fetch = async (path: string, extra: string[] = []) => {
        const result = await curl(`https://${HOST}:${port}${path}`, { proxy: mitm.proxyUrl, cacert: mitm.caPath, extra });
        const request = await mitm.waitFor('http-request', (e) => e.url.endsWith(path));
        await mitm.waitFor('connection-close', (e) => e.conn === request.conn);
        return { status: result.status, body: result.body, request };
      };
      expect((await fetch('/retry?n=1')).status).toBe(200);
      await poolSize(1);
      // The kept connection fails the GET: it goes again on a new origin connection, and the browser gets the answer.
      const again = await fetch('/retry?n=2');
      expect(again.status).toBe(200);
      expect(again.body).toBe('ok\n');
      expect(connections).toBe(2);
      const response = await mitm.waitFor('http-response', (e) => e.id === again.request.id);
      expect(response.status).toBe(200);
      expect(response.timings.connect).toBeGreaterThanOrEqual(0); // it opened a connection
      expect(mitm.ofType('http-request').filter((e) => e.url.endsWith('/retry?n=2'))).toHaveLength(1);
      await poolSize(1);
      // A POST with a body is never sent twice (RFC 9112 §9.3.1): the browser gets the 502.
      const post = await fetch('/retry?n=3', ['-d', 'a=1']);
      expect(post.status).toBe(502);
      expect(connections).toBe(2);
    });
  });

  it('within one browser connection, an origin connection idle for the limit its origin announced is not used again', async () => {
    // A bare origin that announces a 2 s idle limit and closes a connection, unanswered, when a request comes after
    // 1.2 s of idleness: the moment its limit runs out as a request is sent (here made certain). mitmlab keeps a
    // connection up to 1 s short of an announced limit, so the POST goes on a new connection and is answered.
    const ports: number[] = [];
    const serve = (socket: tls.TLSSocket): void => {
      let lastAnswer = 0;
      socket.on('data', () => {
        if (lastAnswer > 0 && performance.now() - lastAnswer > 1_200) return socket.destroy();
        ports.push(socket.remotePort!);
        socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 3\r\n\r\nok\n');
        lastAnswer = performance.now();
      });
    };
    await withBareOrigin(serve, (port) =>
      withRawBrowser(port, async (browser) => {
        const send = (head: string, body?: string) => sendOn(browser, `${head}\r\nHost: ${browser.authority}`, body);
        expect(await send('GET /announced-lane?n=1 HTTP/1.1')).toEqual(['HTTP/1.1 200']);
        // Well within the limit: the same origin connection.
        expect(await send('GET /announced-lane?n=2 HTTP/1.1')).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
        expect(ports[1]).toBe(ports[0]);
        await new Promise((resolve) => setTimeout(resolve, 1_300));
        const statuses = await send('POST /announced-lane?n=3 HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded', 'user=ada&password=lab');
        expect(statuses).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
        expect(ports).toHaveLength(3);
        expect(ports[2]).not.toBe(ports[0]);
      }),
    );
  });

  it('a request with a body goes on a new origin connection after 2 s idle when the origin announced no limit', async () => {
    const origin = silentIdleCloser();
    await withBareOrigin(origin.serve, (port) =>
      withRawBrowser(port, async (browser) => {
        await expectFreshConnectionForLatePost(origin, (head, body) => sendOn(browser, `${head}\r\nHost: ${browser.authority}`, body), '/unannounced');
      }),
    );
  });

  it('a GET goes on a new origin connection after 2 s idle when the connection never answered one (it would not be sent again)', async () => {
    const origin = silentIdleCloser();
    await withBareOrigin(origin.serve, (port) =>
      withRawBrowser(port, async (browser) => {
        // The origin connection opened with the tunnel; the browser's first request comes 2.3 s later.
        await new Promise((resolve) => setTimeout(resolve, 2_300));
        expect(await sendOn(browser, `GET /first-late HTTP/1.1\r\nHost: ${browser.authority}`)).toEqual(['HTTP/1.1 200']);
        expect(origin.ports).toHaveLength(1);
        expect(origin.closedUnanswered()).toBe(0);
      }),
    );
  });

  it('plain http://: any request goes on a new origin connection after 2 s idle, since none is sent twice there', async () => {
    const origin = silentIdleCloser();
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      origin.serve(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const authority = `${HOST}:${(server.address() as AddressInfo).port}`;
    const socket = net.connect({ host: '127.0.0.1', port: mitm.proxyPort });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const browser = { write: (text: string) => void socket.write(text), received: () => received, until: (done: () => boolean) => until(done) };
    try {
      await expectFreshConnectionForLatePost(
        origin,
        (head, body) => sendOn(browser, `${head.replace(' /', ` http://${authority}/`)}\r\nHost: ${authority}`, body),
        '/plain-unannounced',
      );
      await new Promise((resolve) => setTimeout(resolve, 2_300));
      expect(await sendOn(browser, `GET http://${authority}/plain-unannounced?n=4 HTTP/1.1\r\nHost: ${authority}`)).toHaveLength(4);
      expect(received).not.toContain('HTTP/1.1 502');
      expect(origin.ports).toHaveLength(4);
      expect(origin.ports[3]).not.toBe(origin.ports[2]);
      expect(origin.closedUnanswered()).toBe(0);
    } finally {
      socket.destroy();
      server.close();
      await origin.closeAll();
    }
  });

  it('a request on an origin connection that never answered one is not sent again: an origin that resets every request sees it once', async () => {
    let requests = 0;
    const serve = (socket: tls.TLSSocket): void => {
      socket.on('data', () => {
        requests++;
        socket.destroy();
      });
    };
    await withBareOrigin(serve, async (port) => {
      const result = await curl(`https://${HOST}:${port}/reset-always`, { proxy: mitm.proxyUrl, cacert: mitm.caPath });
      expect(result.status).toBe(502);
      expect(requests).toBe(1);
    });
  });

  it('requests pipelined behind a retried one keep their order, a large answer among them', async () => {
    // Resets the connection when /p-a comes as its second request or later; answers the rest with their path, and
    // /p-c with 300 kB (more than a socket buffers: a response sent out of turn would wait on the one before it).
    const order: string[] = [];
    let connections = 0;
    const serve = (socket: tls.TLSSocket): void => {
      const n = ++connections;
      let buffered = '';
      let requests = 0;
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
          const path = buffered.slice(0, end).split(' ')[1]!;
          buffered = buffered.slice(end + 4);
          order.push(`${n}:${path}`);
          if (++requests >= 2 && path === '/p-a') return void socket.destroy();
          const body = path === '/p-c' ? 'c'.repeat(300_000) : `${path}\n`;
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      });
    };
    await withBareOrigin(serve, (port) =>
      withRawBrowser(port, async (browser) => {
        const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: ${browser.authority}\r\n\r\n`;
        browser.write(get('/p-prime'));
        await browser.until(() => browser.received().includes('/p-prime\n'));
        browser.write(['/p-a', '/p-b', '/p-c', '/p-d'].map(get).join(''));
        await browser.until(() => browser.received().includes('/p-d\n'));
        const received = browser.received();
        const statuses = received.match(/HTTP\/1\.1 \d+/g);
        expect(statuses).toEqual(Array(5).fill('HTTP/1.1 200'));
        const at = (text: string) => received.indexOf(text);
        expect(at('/p-a\n')).toBeLessThan(at('/p-b\n'));
        expect(at('/p-b\n')).toBeLessThan(at('ccc'));
        expect(at('ccc')).toBeLessThan(at('/p-d\n'));
        // The retry of /p-a went before the requests behind it, on the new connection.
        expect(order).toEqual(['1:/p-prime', '1:/p-a', '2:/p-a', '2:/p-b', '2:/p-c', '2:/p-d']);
      }),
    );
  });

  it('an origin connection is never handed to a browser on another address', async () => {
    await withOrigin({}, async (origin) => {
      await get(origin, '/hello?from=1');
      await poolSize(1);
      // curl from 127.0.0.2 (every 127/8 address is loopback on Linux): another client machine, as far as the pool knows.
      const other = await get(origin, '/hello?from=2', ['--interface', '127.0.0.2']);
      expect(mitm.ofType('upstream-reused').some((e) => e.conn === other)).toBe(false);
      expect(upstreamHandshakes(other)).toHaveLength(1);
      // Back on the first address, a connection is still there for it.
      const again = await get(origin, '/hello?from=3');
      expect(mitm.ofType('upstream-reused').some((e) => e.conn === again)).toBe(true);
    });
  });
});
