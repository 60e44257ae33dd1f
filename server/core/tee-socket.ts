// A Duplex over a TCP socket that lets mitmlab see the raw TLS bytes of a leg.
// node:tls reads a net.Socket natively in C++, hiding its bytes from JS; wrapping the socket in a JS Duplex routes
// every chunk through here, so the TLS transcript can record both directions (measured cost: see README bench).

import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export interface TeeObserver {
  /** Bytes that arrived from the peer (towards mitmlab). */
  onIn(chunk: Buffer): void;
  /** Bytes mitmlab sends to the peer. */
  onOut(chunk: Buffer): void;
}

export class TeeSocket extends Duplex {
  readonly socket: Socket;
  #observer: TeeObserver | null;

  /**
   * `preface` holds bytes already read from `socket` (e.g. a sniffed ClientHello); they are replayed first. The
   * caller showed them to the observer when they arrived, so they are not reported again.
   */
  constructor(socket: Socket, observer: TeeObserver | null, preface?: Buffer) {
    super({ allowHalfOpen: true });
    this.socket = socket;
    this.#observer = observer;
    if (preface && preface.length > 0) this.push(preface);
    socket.on('data', (chunk: Buffer) => {
      this.#observer?.onIn(chunk);
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    // The TLS layer learns of the failure through 'close'/EOF; an 'error' with nobody listening would be fatal.
    this.on('error', () => {});
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    socket.resume();
  }

  /** Stops reporting bytes (the capture budget is spent or nobody listens any more). */
  detach(): void {
    this.#observer = null;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#observer?.onOut(chunk);
    if (this.socket.write(chunk)) callback();
    else this.socket.once('drain', () => callback());
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((entry) => entry.chunk);
    const joined = buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers);
    this._write(joined, 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
}
