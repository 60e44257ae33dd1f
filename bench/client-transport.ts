// The load client's transport: TLS straight to the origin, or CONNECT through a proxy and TLS over the tunnel, then
// HTTP/1.1 requests with keep-alive. Written on raw sockets so the client costs the same for every peer and stays
// cheap next to what it measures.

import net from 'node:net';
import tls from 'node:tls';
import { ResponseReader } from './http1-reader.js';
import type { Target } from './jobs.js';

/** The client's TLS settings for a target: it trusts that one root and nothing else. */
export function clientContext(target: Target): tls.SecureContext {
  return tls.createSecureContext({ ca: target.caPem });
}

/** A GET request head for `host` (with the origin port, as a browser sends it, RFC 9110 §7.2). */
export function getRequest(host: string, port: number, path: string, close: boolean): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: mitmlab-bench\r\nAccept: */*\r\n${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1');
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Opens a CONNECT tunnel to `host:port` through the proxy on 127.0.0.1:proxyPort. */
function tunnel(proxyPort: number, authority: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxyPort, noDelay: true });
    const reader = new ResponseReader({ connect: true });
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      const step = reader.push(chunk);
      if (step.kind === 'incomplete') return;
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('end', onEnd);
      if (step.kind === 'invalid') return fail(new Error(`bad CONNECT answer: ${step.reason}`));
      if (step.status !== 200) return fail(new Error(`CONNECT answered ${step.status}`));
      socket.pause();
      if (step.rest.length > 0) socket.unshift(step.rest);
      resolve(socket);
    };
    const onEnd = (): void => fail(new Error('proxy closed the connection before answering CONNECT'));
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('end', onEnd);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 'latin1');
  });
}

/** A TLS connection to `host` on the target's origin: direct (to 127.0.0.1 with SNI `host`) or through the proxy. */
export async function openTls(target: Target, host: string, context: tls.SecureContext, timeoutMs: number): Promise<tls.TLSSocket> {
  let raw: net.Socket | null = null;
  let secure: tls.TLSSocket | null = null;
  const open = async (): Promise<tls.TLSSocket> => {
    if (target.proxyPort !== null) raw = await tunnel(target.proxyPort, `${host}:${target.originPort}`);
    return new Promise((resolve, reject) => {
      // No `session`: every connection is a full handshake, as for a new visitor.
      const options: tls.ConnectionOptions = { servername: host, secureContext: context };
      secure = raw ? tls.connect({ ...options, socket: raw }) : tls.connect({ ...options, host: '127.0.0.1', port: target.originPort });
      const s = secure;
      s.once('secureConnect', () => {
        s.off('error', reject);
        s.setNoDelay(true);
        resolve(s);
      });
      s.once('error', reject);
    });
  };
  return withTimeout(open(), timeoutMs, `TLS to ${host}`, () => {
    (secure as tls.TLSSocket | null)?.destroy();
    (raw as net.Socket | null)?.destroy();
  });
}

/** One response's outcome. */
export interface Exchange {
  status: number;
  bodyBytes: number;
  close: boolean;
}

/** Sequential HTTP/1.1 requests over one socket (no pipelining, like a browser). */
export class Http1Connection {
  private readonly reader = new ResponseReader();
  private pending: { resolve: (e: Exchange) => void; reject: (e: Error) => void } | null = null;
  private failed: Error | null = null;

  constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      if (!this.pending) return;
      const step = this.reader.push(chunk);
      if (step.kind === 'incomplete') return;
      if (step.kind === 'invalid') return this.fail(new Error(`bad response: ${step.reason}`));
      this.settle(step);
    });
    socket.on('end', () => {
      if (!this.pending) return void (this.failed ??= new Error('server closed the connection'));
      const step = this.reader.end();
      if (step.kind === 'done') this.settle(step);
      else this.fail(new Error(`connection closed mid-response (${step.kind === 'invalid' ? step.reason : 'incomplete'})`));
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  /** Body bytes of the current response received so far. */
  get received(): number {
    return this.reader.received;
  }

  private settle(exchange: Exchange): void {
    const pending = this.pending;
    this.pending = null;
    pending?.resolve({ status: exchange.status, bodyBytes: exchange.bodyBytes, close: exchange.close });
  }

  private fail(error: Error): void {
    this.failed ??= error;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
  }

  /** Sends one request and resolves with its response; rejects on timeout, close or a malformed answer. */
  request(head: Buffer, timeoutMs: number): Promise<Exchange> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.pending) return Promise.reject(new Error('request already in flight'));
    this.reader.reset();
    const done = new Promise<Exchange>((resolve, reject) => {
      this.pending = { resolve, reject };
    });
    this.socket.write(head);
    return withTimeout(done, timeoutMs, 'request', () => this.destroy());
  }

  /** Closes the connection now. */
  destroy(): void {
    this.socket.destroy();
  }
}
