// A real origin for tests: HTTP or HTTPS on 127.0.0.1, port 0, with a few routes and a WebSocket echo.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { WebSocketServer } from 'ws';

export interface Origin {
  port: number;
  /** e.g. https://127.0.0.1:PORT */
  url: string;
  /** Requests seen, in order: method, url, headers, and the client's port (which connection carried it). */
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; clientPort: number | undefined }>;
  close(): Promise<void>;
}

export interface OriginOptions {
  /** PEM certificate (chain) and key: HTTPS when given, else plain HTTP. */
  cert?: string;
  key?: string;
  /** Extra TLS options (minVersion, maxVersion, ciphers…). */
  tlsOptions?: https.ServerOptions;
  /** The largest request head the origin reads (Node's default is 16 KiB). */
  maxHeaderSize?: number;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

function handler(seen: Origin['seen']) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, clientPort: req.socket.remotePort });
    const url = new URL(req.url ?? '/', 'http://origin');
    switch (url.pathname) {
      case '/hello':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hello from origin\n');
        return;
      case '/early-hints':
        // A 103 Early Hints before the page (RFC 8297).
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hinted\n');
        return;
      case '/close':
        // Answers, then closes the connection (RFC 9112 §9.6): the next request needs a new one.
        res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
        res.end('closing\n');
        return;
      case '/slow':
        // Answers after ?ms= milliseconds: a request still in flight when the next one arrives.
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('hello from origin\n');
        }, Number(url.searchParams.get('ms') ?? '200'));
        return;
      case '/echo': {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ method: req.method, length: body.length, body: body.toString('utf8').slice(0, 1000), headers: req.headers }));
        });
        return;
      }
      case '/bytes': {
        // Streams n bytes generated on the fly: the origin itself never holds the body.
        const total = Number(url.searchParams.get('n') ?? '0');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
        let sent = 0;
        const pump = (): void => {
          while (sent < total) {
            const n = Math.min(CHUNK.length, total - sent);
            sent += n;
            if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      case '/gzip': {
        const body = zlib.gzipSync(Buffer.from('{"compressed":true,"text":"' + 'gzip '.repeat(200) + '"}'));
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(body.length) });
        res.end(body);
        return;
      }
      case '/pixel.gif': {
        // The classic 1 × 1 transparent GIF of tracking pixels (GIF89a, 43 bytes).
        const body = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
        res.writeHead(200, { 'content-type': 'image/gif', 'content-length': String(body.length) });
        res.end(body);
        return;
      }
      case '/gzip-broken': {
        // A gzip stream cut in half, with a Content-Length that matches what is sent: framed right, coded wrong.
        const whole = zlib.gzipSync(Buffer.from(Array.from({ length: 2_000 }, (_, i) => `line ${i}\n`).join('')));
        const body = whole.subarray(0, whole.length >> 1);
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': String(body.length) });
        res.end(body);
        return;
      }
      case '/binary': {
        const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(body);
        return;
      }
      case '/login': {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': 'session=s3cr3t-session-id; HttpOnly' });
          res.end('<!doctype html><p>welcome</p>');
        });
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
    }
  };
}

/** Starts an origin; HTTPS when `cert`/`key` are given. */
export async function startOrigin(options: OriginOptions = {}): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const secure = Boolean(options.cert && options.key);
  const server = secure
    ? https.createServer({ cert: options.cert, key: options.key, maxHeaderSize: options.maxHeaderSize, ...options.tlsOptions }, handler(seen))
    : http.createServer({ maxHeaderSize: options.maxHeaderSize }, handler(seen));
  // Every field of a request head, however many (node:http keeps about the first thousand by default).
  server.maxHeadersCount = 0;
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (socket, req) => {
    socket.on('message', (data, isBinary) => {
      // A heartbeat on request: the browser answers the ping with a pong of its own (RFC 6455 §5.5.2).
      if (!isBinary && data.toString() === 'ping me') socket.ping('heartbeat');
      socket.send(isBinary ? data : `echo: ${data.toString()}`, { binary: isBinary });
    });
    socket.send(`hello ${req.headers['sec-websocket-protocol'] ?? ''}`.trim());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    seen,
    close: () => closeWsServer(wss, server),
  };
}

/** Stops an HTTP(S) server with a WebSocket server on it: every WebSocket and connection is cut, then it closes. */
export function closeWsServer(wss: WebSocketServer, server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
