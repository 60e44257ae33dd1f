// TLS record framing (RFC 8446 §5.1, RFC 5246 §6.2) and ClientHello reassembly from a client's first bytes.
// Pure: bytes in, one of the four Parsed outcomes out, never a throw.

import type { ClientHello } from '../protocol/tls.js';
import { parseClientHello } from './client-hello.js';
import { type Parsed, incomplete, invalid, notTls, ok } from './parsed.js';

/** One TLS record: header fields, the fragment (a view into the input) and where the record starts. */
export interface TlsRecord {
  contentType: number;
  version: number;
  fragment: Buffer;
  /** Offset of the record's first header byte in the input buffer. */
  offset: number;
}

/** Record content types (RFC 8446 §5.1; heartbeat RFC 6520). */
export const ContentType = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
  heartbeat: 24,
} as const;

export const RECORD_HEADER_LENGTH = 5;

/**
 * Largest fragment we accept: RFC 5246 §6.2.3 allows 2^14 + 2048 for TLSCiphertext (RFC 8446 §5.2 tightened it to
 * 2^14 + 256, but TLS 1.2 peers may use the older bound). Anything larger is a framing error, not TLS.
 */
export const MAX_FRAGMENT_LENGTH = 16384 + 2048;

/** Cap on a reassembled ClientHello: real ones are < 2 KiB (Chrome with ML-KEM ~1.8 KiB); 64 KiB is generous. */
export const MAX_CLIENT_HELLO_LENGTH = 64 * 1024;

/** A record content type we know (20–24). */
export function isKnownContentType(n: number): boolean {
  return n >= ContentType.changeCipherSpec && n <= ContentType.heartbeat;
}

/** Reads one record header + fragment at `offset`. `length` covers header and fragment. */
export function readRecord(buf: Buffer, offset = 0): Parsed<TlsRecord> {
  if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) return invalid('bad-offset', offset);
  const available = buf.length - offset;
  if (available >= 1 && !isKnownContentType(buf[offset]!)) return notTls();
  // Every TLS version puts 3 in the major byte of the record version (SSL 3.0 = 0x0300 … TLS 1.3 records = 0x0303).
  if (available >= 2 && buf[offset + 1] !== 3) return notTls();
  if (available < RECORD_HEADER_LENGTH) return incomplete(RECORD_HEADER_LENGTH - available);
  const contentType = buf[offset]!;
  const version = buf.readUInt16BE(offset + 1);
  const length = buf.readUInt16BE(offset + 3);
  if (length > MAX_FRAGMENT_LENGTH) return invalid('record-overflow', offset + 3);
  const total = RECORD_HEADER_LENGTH + length;
  if (available < total) return incomplete(total - available);
  return ok(
    { contentType, version, fragment: buf.subarray(offset + RECORD_HEADER_LENGTH, offset + total), offset },
    total,
  );
}

/** What readClientHelloFlight returns: the hello, its handshake message and the record bytes it used. */
export interface ClientHelloFlight {
  hello: ClientHello;
  /** The whole handshake message: type (1) + 3-byte length + body. */
  message: Buffer;
  /** Bytes of input (whole records) the hello occupied. */
  consumed: number;
}

/**
 * Given a client's first bytes, reassembles the ClientHello even when it spans several handshake records
 * (RFC 8446 §5.1: handshake messages may be fragmented across records) and parses it.
 * `incomplete.need` is a lower bound: exact once the current record's header is known.
 */
export function readClientHelloFlight(buf: Buffer): Parsed<ClientHelloFlight> {
  try {
    return readFlight(buf);
  } catch (error) {
    // Unreachable by construction; the contract is "never throws", so a bug becomes an outcome, not a crash.
    return invalid(`internal: ${(error as Error).message}`, 0);
  }
}

function readFlight(buf: Buffer): Parsed<ClientHelloFlight> {
  if (buf.length === 0) return incomplete(RECORD_HEADER_LENGTH + 4);
  const first = buf[0]!;
  if (first & 0x80) {
    // RFC 5246 Appendix E.2: an SSL 2.0 CLIENT-HELLO starts with a 2-byte length whose high bit is set, then
    // msg_type 1. No current client sends it; OpenSSL 3 refuses it, so we report it rather than relay it as TLS.
    if (buf.length < 3) return incomplete(3 - buf.length);
    return buf[2] === 1 ? invalid('sslv2-hello', 0) : notTls();
  }
  if (first !== ContentType.handshake) {
    // Another TLS record type first (an alert, application data…) is TLS all the same (RFC 8446 §5.1: type, then
    // version 3.x), just not a hello: report it rather than relay it as an opaque tunnel.
    if (isKnownContentType(first) && buf.length >= 2 && buf[1] === 3) return invalid('unexpected-record-before-hello', 0);
    if (isKnownContentType(first) && buf.length < 2) return incomplete(1);
    return notTls();
  }
  if (buf.length >= 2 && buf[1] !== 3) return notTls();

  const parts: Buffer[] = [];
  const partOffsets: number[] = []; // where each fragment starts in `buf`, to map message offsets back
  let collected = 0;
  let messageLength = -1; // known once 4 handshake bytes have arrived
  let recordVersion = -1;
  let offset = 0;

  for (;;) {
    const rec = readRecord(buf, offset);
    if (rec.kind === 'not-tls') return offset === 0 ? notTls() : invalid('unexpected-bytes', offset);
    if (rec.kind === 'invalid') return rec;
    if (rec.kind === 'incomplete') {
      const available = buf.length - offset;
      if (available < RECORD_HEADER_LENGTH) {
        const helloNeed = messageLength < 0 ? 4 - collected : 4 + messageLength - collected;
        // A record header (and at least one fragment byte) must still arrive before anything more of the hello.
        return incomplete(RECORD_HEADER_LENGTH - available + Math.max(1, helloNeed));
      }
      const recordRemaining = rec.need;
      const fragmentAvailable = available - RECORD_HEADER_LENGTH;
      if (messageLength < 0 && collected + fragmentAvailable >= 4) {
        // The hello's own header is already here, inside a partial record: check it now and size `need` exactly.
        const head = Buffer.concat([...parts, buf.subarray(offset + RECORD_HEADER_LENGTH)]);
        const early = checkHelloHeader(head, parts.length === 0 ? offset + RECORD_HEADER_LENGTH : partOffsets[0]!);
        if (typeof early !== 'number') return early;
        messageLength = early;
      }
      const helloNeed = messageLength < 0 ? 4 - collected : 4 + messageLength - collected;
      const stillNeeded = helloNeed - fragmentAvailable;
      // If the rest of the hello does not fit in this record, another record header must follow.
      return incomplete(stillNeeded > recordRemaining ? stillNeeded + RECORD_HEADER_LENGTH : recordRemaining);
    }
    const { contentType, fragment, version } = rec.value;
    if (contentType !== ContentType.handshake) return invalid('unexpected-record-before-hello', offset);
    // RFC 8446 §5.1: implementations MUST NOT send zero-length fragments of handshake messages.
    if (fragment.length === 0) return invalid('empty-handshake-record', offset);
    if (recordVersion < 0) recordVersion = version;
    parts.push(fragment);
    partOffsets.push(offset + RECORD_HEADER_LENGTH);
    collected += fragment.length;
    offset += rec.length;

    if (messageLength < 0 && collected >= 4) {
      const early = checkHelloHeader(parts.length === 1 ? fragment : Buffer.concat(parts, collected), partOffsets[0]!);
      if (typeof early !== 'number') return early;
      messageLength = early;
    }
    if (messageLength >= 0 && collected >= 4 + messageLength) {
      const all = parts.length === 1 ? fragment : Buffer.concat(parts, collected);
      // Copy: the caller's buffer may be reused, and the message outlives it (events, transcripts).
      const message = Buffer.from(all.subarray(0, 4 + messageLength));
      const parsed = parseClientHello(message, recordVersion);
      switch (parsed.kind) {
        case 'ok':
          return ok({ hello: parsed.value, message, consumed: offset }, offset);
        case 'invalid':
          return invalid(parsed.reason, toBufferOffset(parsed.offset, parts, partOffsets));
        default:
          return invalid('hello-undecodable', 0);
      }
    }
  }
}

/** The hello's body length from its handshake header (`head` ≥ 4 bytes), or why it cannot be a ClientHello. */
function checkHelloHeader(head: Buffer, headOffset: number): number | Parsed<ClientHelloFlight> {
  if (head[0] !== 1) return invalid('not-client-hello', headOffset);
  const length = head.readUIntBE(1, 3);
  if (4 + length > MAX_CLIENT_HELLO_LENGTH) return invalid('hello-too-large', headOffset + 1);
  return length;
}

/** Maps an offset inside the reassembled message to the input byte it came from. */
function toBufferOffset(messageOffset: number, parts: Buffer[], partOffsets: number[]): number {
  let rest = messageOffset;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (rest < part.length) return partOffsets[i]! + rest;
    rest -= part.length;
  }
  const last = parts.length - 1;
  return last >= 0 ? partOffsets[last]! + parts[last]!.length : 0;
}
