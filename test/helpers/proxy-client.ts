// A Node client that goes through the proxy by hand: CONNECT, then TLS over the tunnel. Lets tests control SNI,
// TLS versions and ALPN, and inspect the certificate mitmlab presents.

import http from 'node:http';
import type { Socket } from 'node:net';
import tls from 'node:tls';

/** Opens a CONNECT tunnel; resolves with the raw socket once the proxy answered 200, rejects otherwise. */
export function connectTunnel(proxyPort: number, authority: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: authority, headers: { host: authority } });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) resolve(socket);
      else {
        socket.destroy();
        reject(Object.assign(new Error(`CONNECT answered ${res.statusCode}`), { statusCode: res.statusCode }));
      }
    });
    req.once('error', reject);
    req.end();
  });
}

export interface TunnelTlsOptions extends tls.ConnectionOptions {
  proxyPort: number;
  authority: string;
}

/** CONNECT + TLS handshake through the proxy. */
export async function tlsThroughProxy(options: TunnelTlsOptions): Promise<tls.TLSSocket> {
  const { proxyPort, authority, ...tlsOptions } = options;
  const socket = await connectTunnel(proxyPort, authority);
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ ...tlsOptions, socket });
    secure.once('secureConnect', () => resolve(secure));
    secure.once('error', reject);
  });
}

/** Sends one HTTP/1.1 request over an established TLS socket and reads the whole response. */
export function requestOver(
  socket: tls.TLSSocket,
  path: string,
  host: string,
  options: { method?: string; body?: string; agent?: http.Agent } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      method: options.method ?? 'GET',
      path,
      headers: { host, ...(options.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(options.agent ? { agent: options.agent } : { createConnection: () => socket }),
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.once('error', reject);
    req.end(options.body);
  });
}
