// Reads the first bytes a client sends inside a CONNECT tunnel, without consuming them for good: the bytes are
// handed back so they can be replayed into the TLS terminator or the raw relay ("peek, then put back").

import type { Socket } from 'node:net';
import type { ClientHello } from '../protocol/tls.js';
import { readClientHelloFlight } from '../tls/records.js';

export type Sniffed =
  | { kind: 'tls'; hello: ClientHello; message: Buffer; buffered: Buffer }
  /** Bytes that are not a TLS handshake (plain HTTP, SSH…): relayed raw. */
  | { kind: 'not-tls'; buffered: Buffer }
  /** TLS-looking bytes that do not parse (e.g. an SSLv2 hello). */
  | { kind: 'invalid'; reason: string; buffered: Buffer }
  /** Nothing arrived: a server-speaks-first protocol, relayed raw. */
  | { kind: 'silent' }
  /** A partial hello, then nothing. */
  | { kind: 'timeout'; buffered: Buffer }
  | { kind: 'closed'; buffered: Buffer };

export interface SniffOptions {
  /** How long to wait for the first byte before treating the tunnel as server-speaks-first. */
  silenceMs: number;
  /** How long a started hello may take to complete. */
  timeoutMs: number;
}

/** Collects bytes until a complete ClientHello, or a verdict that this is not one. Leaves the socket paused. */
export function sniffClientHello(socket: Socket, head: Buffer, options: SniffOptions): Promise<Sniffed> {
  return new Promise((resolve) => {
    let buffered = head;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let helloTimer = false;

    const settle = (result: Sniffed): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onEnd);
      resolve(result);
    };

    const examine = (): void => {
      if (buffered.length === 0) return;
      const parsed = readClientHelloFlight(buffered);
      switch (parsed.kind) {
        case 'ok':
          settle({ kind: 'tls', hello: parsed.value.hello, message: parsed.value.message, buffered });
          return;
        case 'not-tls':
          settle({ kind: 'not-tls', buffered });
          return;
        case 'invalid':
          settle({ kind: 'invalid', reason: parsed.reason, buffered });
          return;
        case 'incomplete':
          // One deadline from the first byte: a hello trickled in byte by byte does not get to extend it.
          if (!helloTimer) {
            clearTimeout(timer);
            helloTimer = true;
            timer = setTimeout(() => settle({ kind: 'timeout', buffered }), options.timeoutMs);
          }
          return;
      }
    };

    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      examine();
    };
    const onEnd = (): void => settle({ kind: 'closed', buffered });

    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onEnd);
    if (buffered.length > 0) examine();
    else timer = setTimeout(() => settle({ kind: 'silent' }), options.silenceMs);
    if (!settled) socket.resume();
  });
}
