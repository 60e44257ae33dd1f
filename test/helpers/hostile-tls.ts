// TLS bytes that no well-behaved client sends: a real ClientHello captured from Node's TLS client, the same hello
// with a huge extension list, bare alert records, and a small seeded mutator for fuzz loops. Record and handshake
// framing follow RFC 8446 §5.1 and §4.

import { Duplex } from 'node:stream';
import tls from 'node:tls';

/** One TLS record (RFC 8446 §5.1): type, legacy version, 2-byte length, fragment. */
export function tlsRecord(contentType: number, fragment: Buffer, version = 0x0303): Buffer {
  const header = Buffer.alloc(5);
  header[0] = contentType;
  header.writeUInt16BE(version, 1);
  header.writeUInt16BE(fragment.length, 3);
  return Buffer.concat([header, fragment]);
}

/** A plaintext alert record (RFC 8446 §6): level 1 warning / 2 fatal, e.g. 40 handshake_failure, 0 close_notify. */
export function alertRecord(level: number, description: number): Buffer {
  return tlsRecord(21, Buffer.from([level, description]));
}

/** Captures the ClientHello flight Node's TLS client sends for `options` (no server involved). */
export function captureClientHello(options: tls.ConnectionOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sink = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        const all = Buffer.concat(chunks);
        if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
          resolve(all.subarray(0, 5 + all.readUInt16BE(3)));
          queueMicrotask(() => secure.destroy());
        }
        callback();
      },
    });
    const secure = tls.connect({ ...options, socket: sink, rejectUnauthorized: false });
    secure.on('error', (error) => (chunks.length === 0 ? reject(error) : undefined));
  });
}

/** The handshake message (type + length + body) inside a single-record ClientHello flight. */
function helloMessage(flight: Buffer): Buffer {
  return flight.subarray(5, 5 + flight.readUInt16BE(3));
}

/** Splits a handshake message into records of at most `maxFragment` bytes (RFC 8446 §5.1 allows fragmentation). */
export function frameHandshake(message: Buffer, maxFragment = 16384, version = 0x0301): Buffer {
  const records: Buffer[] = [];
  for (let offset = 0; offset < message.length; offset += maxFragment) {
    records.push(tlsRecord(22, message.subarray(offset, offset + maxFragment), version));
  }
  return Buffer.concat(records);
}

/**
 * The captured hello with `extraBytes` more bytes of extensions appended (unassigned type 0xfe0d + n, so a server
 * ignores them, RFC 8446 §4.2), re-framed across as many records as needed.
 */
export function inflateClientHello(flight: Buffer, extraBytes: number): Buffer {
  const message = helloMessage(flight);
  const body = message.subarray(4);
  let offset = 2 + 32; // legacy_version, random
  offset += 1 + body[offset]!; // legacy_session_id
  offset += 2 + body.readUInt16BE(offset); // cipher_suites
  offset += 1 + body[offset]!; // legacy_compression_methods
  const extensionsLength = body.readUInt16BE(offset);
  const extensions: Buffer[] = [body.subarray(offset + 2, offset + 2 + extensionsLength)];
  let added = 0;
  for (let n = 0; added < extraBytes; n++) {
    const size = Math.min(4000, extraBytes - added);
    const ext = Buffer.alloc(4 + size, 0x61);
    ext.writeUInt16BE(0xfe20 + (n % 200), 0);
    ext.writeUInt16BE(size, 2);
    extensions.push(ext);
    added += ext.length;
  }
  const allExtensions = Buffer.concat(extensions);
  if (allExtensions.length > 0xffff) throw new Error('extensions do not fit in 16 bits');
  const lengthField = Buffer.alloc(2);
  lengthField.writeUInt16BE(allExtensions.length);
  const newBody = Buffer.concat([body.subarray(0, offset), lengthField, allExtensions]);
  const header = Buffer.alloc(4);
  header[0] = 1; // client_hello
  header.writeUIntBE(newBody.length, 1, 3);
  return frameHandshake(Buffer.concat([header, newBody]), 16384, flight.readUInt16BE(1));
}

/** A seeded PRNG (mulberry32): fuzz cases are reproducible from the seed printed on failure. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
export function pick(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

// Byte values that tend to sit on parser boundaries: separators, line ends, NUL, sign and length bytes.
const INTERESTING = [0x00, 0x01, 0x0a, 0x0d, 0x20, 0x3a, 0x7f, 0x80, 0xfe, 0xff, 0x09, 0x2c, 0x3b];

/** Applies 1–4 random mutations (flip, overwrite, insert, delete, duplicate, truncate) to a copy of `input`. */
export function mutate(input: Buffer, random: () => number, dictionary: readonly Buffer[] = []): Buffer {
  let buf = Buffer.from(input);
  const rounds = 1 + pick(random, 4);
  for (let r = 0; r < rounds; r++) {
    const at = buf.length === 0 ? 0 : pick(random, buf.length);
    switch (pick(random, 8)) {
      case 0:
        if (buf.length > 0) buf[at] = buf[at]! ^ (1 << pick(random, 8));
        break;
      case 1:
        if (buf.length > 0) buf[at] = INTERESTING[pick(random, INTERESTING.length)]!;
        break;
      case 2: {
        const n = 1 + pick(random, 16);
        const bytes = Buffer.from(Array.from({ length: n }, () => pick(random, 256)));
        buf = Buffer.concat([buf.subarray(0, at), bytes, buf.subarray(at)]);
        break;
      }
      case 3:
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(buf.length, at + 1 + pick(random, 32)))]);
        break;
      case 4: {
        const end = Math.min(buf.length, at + 1 + pick(random, 64));
        buf = Buffer.concat([buf.subarray(0, end), buf.subarray(at, end), buf.subarray(end)]);
        break;
      }
      case 5:
        buf = buf.subarray(0, at);
        break;
      case 6:
        if (dictionary.length > 0) {
          const word = dictionary[pick(random, dictionary.length)]!;
          buf = Buffer.concat([buf.subarray(0, at), word, buf.subarray(at)]);
        }
        break;
      default:
        // Big-endian length fields: set two bytes to an extreme.
        if (buf.length > at + 1) buf.writeUInt16BE([0, 1, 0x7fff, 0xffff][pick(random, 4)]!, at);
        break;
    }
  }
  return buf;
}
