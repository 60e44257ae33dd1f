// The reference peer `tls-relay`: the least work any TLS-intercepting proxy must do. It answers CONNECT, terminates
// the client's TLS with the origin's own certificate, opens its own verified TLS to the origin and copies cleartext
// both ways. No HTTP parsing, no capture, no logging: what it costs is the two TLS legs' crypto plus Node's I/O.
//
// BENCH_RELAY_MODE=http makes it the reference peer `http-relay` instead: the same native TLS legs with node:http on
// both (an http.Server reads each request from the client's TLSSocket and forwards it with https.request over a
// keep-alive agent, piping both bodies). That is the least a Node proxy that sees HTTP must do, still with no capture.
//
// Both TLSSockets sit straight on their TCP handles (native TLS, no JS stream in between). Settings come from the
// environment: BENCH_RELAY_CERT / BENCH_RELAY_KEY (the origin's leaf), BENCH_RELAY_ROOT (the origin's root, to verify
// the upstream leg). Every name goes to 127.0.0.1, sent as SNI and checked against the certificate: this peer exists
// for the bench's loopback origin only.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

// Built once, as any proxy would: a secure context per connection would add a cost that is not the floor.
const clientLeg = tls.createSecureContext({ cert: readFileSync(process.env.BENCH_RELAY_CERT), key: readFileSync(process.env.BENCH_RELAY_KEY) });
const originLeg = tls.createSecureContext({ ca: readFileSync(process.env.BENCH_RELAY_ROOT) });
// The same ALPN as mitmlab offers on both legs, so the handshakes match byte for byte in what they negotiate.
const ALPN = ['http/1.1'];
const MAX_HEAD = 8192;
// mitmlab resumes upstream TLS sessions per name; so does the relay, or the "floor" would pay a cost mitmlab avoids.
const sessions = new Map();

/** Joins two sockets: cleartext flows both ways; when one side goes, the other flushes what it holds and goes too. */
function join(a, b) {
  a.pipe(b);
  b.pipe(a);
  const fail = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', fail);
  b.on('error', fail);
  // destroySoon: end, then destroy once written, so a response the origin ended with `Connection: close` arrives whole.
  a.on('close', () => b.destroySoon());
  b.on('close', () => a.destroySoon());
}

const originAgent = new https.Agent({ keepAlive: true, maxSockets: Infinity, ca: readFileSync(process.env.BENCH_RELAY_ROOT) });
/** The CONNECT target of each client TLSSocket (http-relay): requests go there, with the CONNECT name as SNI. */
const targets = new WeakMap();
const httpLayer = http.createServer((req, res) => {
  const { host, port } = targets.get(req.socket);
  const upstream = https.request(
    { agent: originAgent, host: '127.0.0.1', port, servername: host, ALPNProtocols: ALPN, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
// WebSocket (RFC 6455 §4): forward the upgrade, send the origin's 101 back, then copy frames both ways.
httpLayer.on('upgrade', (req, socket, head) => {
  const { host, port } = targets.get(socket);
  const upstream = https.request({ host: '127.0.0.1', port, servername: host, ca: originAgent.options.ca, method: req.method, path: req.url, headers: req.headers });
  upstream.on('upgrade', (answer, originSocket, originHead) => {
    const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}`];
    for (let i = 0; i < answer.rawHeaders.length; i += 2) lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (originHead.length > 0) socket.write(originHead);
    if (head.length > 0) originSocket.write(head);
    join(socket, originSocket);
  });
  upstream.on('response', (answer) => {
    socket.end(`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}\r\nContent-Length: 0\r\n\r\n`);
    answer.resume();
  });
  upstream.on('error', () => socket.destroy());
  upstream.end();
});

/** TLS on the client's own TCP socket, and a new TLS connection to the origin for `host`, joined. */
function relay(socket, host, port) {
  const client = new tls.TLSSocket(socket, { isServer: true, secureContext: clientLeg, ALPNProtocols: ALPN });
  if (process.env.BENCH_RELAY_MODE === 'http') {
    targets.set(client, { host, port });
    client.once('secure', () => httpLayer.emit('connection', client));
    client.on('error', () => client.destroy());
    return;
  }
  const key = `${host}:${port}`;
  const origin = tls.connect({ host: '127.0.0.1', port, servername: host, secureContext: originLeg, ALPNProtocols: ALPN, session: sessions.get(key) });
  origin.setNoDelay(true);
  origin.on('session', (session) => sessions.set(key, session));
  // Both handshakes run at once; bytes the client sends before the origin is ready wait in the origin socket.
  join(client, origin);
}

const server = net.createServer({ noDelay: true }, (socket) => {
  let head = Buffer.alloc(0);
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_HEAD) socket.destroy();
      return;
    }
    socket.off('data', onData);
    socket.pause();
    // Only the request line matters: `CONNECT host:port HTTP/1.x`.
    const match = /^CONNECT (\S+):(\d{1,5}) HTTP\/1\.[01]\r\n/.exec(head.toString('latin1', 0, end + 2));
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) return void socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    // Anything sent after the head already belongs to TLS; the TLSSocket reads a socket's buffered data first.
    if (end + 4 < head.length) socket.unshift(head.subarray(end + 4));
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    relay(socket, match[1], port);
  };
  socket.on('data', onData);
  // A client that leaves before or during CONNECT; after it, errors surface on the TLSSocket instead.
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => console.log(`${process.env.BENCH_RELAY_MODE === 'http' ? 'http-relay' : 'tls-relay'} listening on ${server.address().port}`));
const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
