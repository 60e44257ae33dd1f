// Raw WebSocket bytes (RFC 6455 §5.2) for frames no conforming library sends: lengths that lie, invalid UTF-8, close
// codes that are not allowed on the wire, and an origin that drops in the middle of a fragmented message.

import crypto from 'node:crypto';
import net, { type AddressInfo, type Socket } from 'node:net';

/** The Sec-WebSocket-Accept value for a key (RFC 6455 §4.2.2 step 5.4). */
export function acceptKey(key: string): string {
  return crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

export interface FrameOptions {
  fin?: boolean;
  opcode: number;
  payload?: Buffer;
  /** Client-to-server frames must be masked (RFC 6455 §5.3). */
  mask?: boolean;
  /** Length written in the header instead of the payload's real length. */
  declaredLength?: bigint;
}

/** One frame; the payload is masked with a fixed key when `mask` is set. */
export function wsFrame(options: FrameOptions): Buffer {
  const payload = options.payload ?? Buffer.alloc(0);
  const length = options.declaredLength ?? BigInt(payload.length);
  const first = ((options.fin ?? true) ? 0x80 : 0) | options.opcode;
  const maskBit = options.mask ? 0x80 : 0;
  let header: Buffer;
  if (length < 126n) header = Buffer.from([first, maskBit | Number(length)]);
  else if (length < 65536n) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = maskBit | 126;
    header.writeUInt16BE(Number(length), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(length, 2);
  }
  if (!options.mask) return Buffer.concat([header, payload]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ key[i % 4]!));
  return Buffer.concat([header, key, masked]);
}

/** A close frame's payload: a 2-byte code and a reason (RFC 6455 §5.5.1). */
export function closePayload(code: number, reason = ''): Buffer {
  const out = Buffer.alloc(2 + Buffer.byteLength(reason));
  out.writeUInt16BE(code, 0);
  out.write(reason, 2);
  return out;
}

/** Sends an upgrade for `url` (absolute form, as browsers send it to a proxy) and resolves with the response head. */
export function rawUpgrade(socket: Socket, requestTarget: string, host: string, extraHeaders = ''): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      resolve({ head: buffered.subarray(0, end + 4).toString('latin1'), rest: buffered.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed before an upgrade answer: ${JSON.stringify(buffered.toString('latin1').slice(0, 200))}`)));
    socket.write(
      `GET ${requestTarget} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        (extraHeaders || 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n') +
        '\r\n',
    );
  });
}

export interface DroppingWsOrigin {
  port: number;
  /** Upgrades accepted. */
  upgrades: number;
  close(): Promise<void>;
}

/** A WebSocket origin that accepts the upgrade, sends the first fragment of a text message, then drops the TCP connection. */
export async function startDroppingWsOrigin(): Promise<DroppingWsOrigin> {
  const sockets = new Set<Socket>();
  let upgrades = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let text = '';
    let upgraded = false;
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return;
      text += chunk.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key:\s*(\S+)/i.exec(text)?.[1] ?? '';
      upgraded = true;
      upgrades++;
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
      socket.write(wsFrame({ fin: false, opcode: 1, payload: Buffer.from('first half of a message that never ') }));
      setTimeout(() => socket.destroy(), 50);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get upgrades() {
      return upgrades;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
