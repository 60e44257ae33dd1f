// Origins that misbehave on purpose: a raw TCP (or TLS) server on 127.0.0.1 whose answer to each request is a script
// of bytes, so tests can send what no HTTP library would (lying Content-Length, garbage, 1xx then 200, a close in the
// middle of the head…). Also an origin that accepts TCP and never speaks.

import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';

/** What a script gets: the connection and the request head it sent (up to and including the blank line). */
export type OriginScript = (socket: Socket, head: string) => void;

export interface ScriptedOrigin {
  port: number;
  /** Request heads received, in order. */
  heads: string[];
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/**
 * Starts an origin that answers every request head with `script(socket, head)`; the path picks the behaviour.
 * HTTPS when `cert`/`key` are given.
 */
export async function startScriptedOrigin(script: OriginScript, options: { cert?: string; key?: string } = {}): Promise<ScriptedOrigin> {
  const sockets = new Set<Socket>();
  const heads: string[] = [];
  let connections = 0;
  const onSocket = (socket: Socket): void => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end + 4);
        buffered = buffered.slice(end + 4);
        heads.push(head);
        script(socket, head);
      }
    });
  };
  const server =
    options.cert && options.key
      ? tls.createServer({ cert: options.cert, key: options.key, ALPNProtocols: ['http/1.1'] }, onSocket)
      : net.createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    heads,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An origin that accepts TCP connections and never sends a byte (a stalled TLS handshake, a hung server). */
export async function startSilentOrigin(): Promise<ScriptedOrigin & { readonly open: number }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    // Reads (and drops) what comes, so that it sees the peer close; it never sends a byte.
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    heads: [],
    get connections() {
      return connections;
    },
    /** Connections open right now. */
    get open() {
      return sockets.size;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The request path of a raw head ("GET /x HTTP/1.1" → "/x"). */
export function pathOf(head: string): string {
  return head.split(' ', 2)[1] ?? '';
}
