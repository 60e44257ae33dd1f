// The bench origin, run in its own process: HTTPS on 127.0.0.1 with a 1 KiB page, a streamed download of any size
// and a WebSocket echo. Started by bench/main.ts through fork(); it reports its port over IPC.

import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const KIB = Buffer.alloc(1024, 0x61);
const CHUNK = Buffer.alloc(64 * 1024, 0x62);

const server = https.createServer({
  cert: readFileSync(process.env.BENCH_ORIGIN_CERT!),
  key: readFileSync(process.env.BENCH_ORIGIN_KEY!),
  noDelay: true,
  // The load never pauses longer than a run, and proxies pool their upstream connections: do not close them under it.
  keepAliveTimeout: 120_000,
});

server.on('request', (req, res) => {
  const url = req.url ?? '/';
  if (url === '/1k') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1024' });
    res.end(KIB);
    return;
  }
  if (url.startsWith('/bytes?n=')) {
    // Generated on the fly: the origin never holds the body.
    const total = Number(url.slice('/bytes?n='.length));
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
  res.writeHead(404, { 'content-length': '0' });
  res.end();
});

const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});

server.on('clientError', (_error, socket) => socket.destroy());
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
