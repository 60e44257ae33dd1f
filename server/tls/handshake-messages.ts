// Plaintext handshake messages other than the hellos: TLS 1.2's Certificate, ServerKeyExchange, ServerHelloDone,
// ClientKeyExchange (RFC 5246 §7.4, RFC 8422 §5.4), the ChangeCipherSpec record and alerts (RFC 8446 §6).
// Also frames handshake messages inside a reassembled handshake stream. Pure; never throws.

import { Cursor, TlsDecodeError } from './cursor.js';
import { HANDSHAKE_HEADER_LENGTH } from './client-hello.js';
import { alertName, handshakeTypeName } from './iana.js';
import { type Parsed, incomplete, invalid, ok } from './parsed.js';

/** Handshake message types (IANA TLS HandshakeType registry). */
export const HandshakeType = {
  helloRequest: 0,
  clientHello: 1,
  serverHello: 2,
  newSessionTicket: 4,
  encryptedExtensions: 8,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
  finished: 20,
  certificateStatus: 22,
} as const;

/** One framed handshake message. */
export interface HandshakeMessage {
  type: number;
  /** e.g. Certificate (IANA name). */
  name: string;
  /** The whole message, header included (a view into the input). */
  message: Buffer;
  body: Buffer;
}

/** Reads one handshake message header + body at `offset` of a reassembled handshake stream. */
export function readHandshakeMessage(buf: Buffer, offset = 0): Parsed<HandshakeMessage> {
  const available = buf.length - offset;
  if (offset < 0 || available < 0) return invalid('bad-offset', offset);
  if (available < HANDSHAKE_HEADER_LENGTH) return incomplete(HANDSHAKE_HEADER_LENGTH - available);
  const type = buf[offset]!;
  const length = buf.readUIntBE(offset + 1, 3);
  const total = HANDSHAKE_HEADER_LENGTH + length;
  if (available < total) return incomplete(total - available);
  return ok(
    {
      type,
      name: handshakeTypeName(type),
      message: buf.subarray(offset, offset + total),
      body: buf.subarray(offset + HANDSHAKE_HEADER_LENGTH, offset + total),
    },
    total,
  );
}

/** Runs a body decoder on a complete message of the expected type, turning decode errors into outcomes. */
function decodeMessage<T>(message: Buffer, expectedType: number, decode: (c: Cursor) => T): Parsed<T> {
  const framed = readHandshakeMessage(message, 0);
  if (framed.kind !== 'ok') return framed;
  if (framed.value.type !== expectedType) return invalid(`not-${handshakeTypeName(expectedType)}`, 0);
  try {
    const c = new Cursor(message, HANDSHAKE_HEADER_LENGTH, framed.length);
    const value = decode(c);
    c.done(handshakeTypeName(expectedType));
    return ok(value, framed.length);
  } catch (error) {
    if (error instanceof TlsDecodeError) return invalid(error.reason, error.offset);
    return invalid(`internal: ${(error as Error).message}`, 0);
  }
}

/** TLS 1.2 Certificate (RFC 5246 §7.4.2): the DER certificates, leaf first. */
export interface CertificateMessage {
  certificates: Buffer[];
}

/** Decodes a TLS 1.2 Certificate message (header included). */
export function parseCertificate(message: Buffer): Parsed<CertificateMessage> {
  return decodeMessage(message, HandshakeType.certificate, (c) => {
    // opaque ASN.1Cert<1..2^24-1>; ASN.1Cert certificate_list<0..2^24-1>;
    const list = c.vector(3, 'certificate_list');
    const certificates: Buffer[] = [];
    while (list.remaining > 0) {
      const cert = list.vector(3, 'ASN.1Cert');
      if (cert.remaining === 0) throw new TlsDecodeError('ASN.1Cert: empty', cert.pos);
      certificates.push(Buffer.from(cert.bytes(cert.remaining)));
    }
    return { certificates };
  });
}

/** TLS 1.2 ServerKeyExchange, for the ECDHE (RFC 8422 §5.4) and DHE (RFC 5246 §7.4.3) key exchanges. */
export type ServerKeyExchange =
  | { kind: 'ecdhe'; curveType: number; namedCurve: number; publicKeyLength: number; signatureScheme: number | null; signatureLength: number }
  | { kind: 'dhe'; primeBits: number; publicKeyLength: number; signatureScheme: number | null; signatureLength: number };

/**
 * Decodes a ServerKeyExchange. Its layout depends on the negotiated cipher suite, which this message does not
 * say; `kind` picks it (ECDHE when omitted: every suite a browser offers today). TLS 1.2 signatures start with a
 * SignatureAndHashAlgorithm; pass `signedWithScheme: false` for TLS 1.0/1.1, whose signatures do not.
 */
export function parseServerKeyExchange(
  message: Buffer,
  options: { kind?: 'ecdhe' | 'dhe'; signedWithScheme?: boolean } = {},
): Parsed<ServerKeyExchange> {
  const withScheme = options.signedWithScheme ?? true;
  return decodeMessage(message, HandshakeType.serverKeyExchange, (c): ServerKeyExchange => {
    if ((options.kind ?? 'ecdhe') === 'ecdhe') {
      const curveType = c.u8('curve_type');
      // RFC 8422 §5.4: only named_curve (3) remains; explicit curves were deprecated.
      if (curveType !== 3) throw new TlsDecodeError('ECParameters: curve_type is not named_curve', c.pos - 1);
      const namedCurve = c.u16('named_curve');
      const point = c.vector(1, 'ECPoint');
      const publicKeyLength = point.remaining;
      if (publicKeyLength === 0) throw new TlsDecodeError('ECPoint: empty', point.pos);
      point.bytes(publicKeyLength);
      const signatureScheme = withScheme ? c.u16('signature_algorithm') : null;
      const signature = c.vector(2, 'signature');
      const signatureLength = signature.remaining;
      signature.bytes(signatureLength);
      return { kind: 'ecdhe', curveType, namedCurve, publicKeyLength, signatureScheme, signatureLength };
    }
    const p = c.vector(2, 'dh_p');
    const prime = p.bytes(p.remaining);
    const g = c.vector(2, 'dh_g');
    g.bytes(g.remaining);
    const ys = c.vector(2, 'dh_Ys');
    const publicKeyLength = ys.remaining;
    ys.bytes(ys.remaining);
    const signatureScheme = withScheme ? c.u16('signature_algorithm') : null;
    const signature = c.vector(2, 'signature');
    const signatureLength = signature.remaining;
    signature.bytes(signature.remaining);
    return { kind: 'dhe', primeBits: bitLength(prime), publicKeyLength, signatureScheme, signatureLength };
  });
}

function bitLength(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i) * 8 - Math.clz32(bytes[i]!) + 24;
}

/** Decodes a ServerHelloDone (RFC 5246 §7.4.5): an empty body. */
export function parseServerHelloDone(message: Buffer): Parsed<Record<string, never>> {
  return decodeMessage(message, HandshakeType.serverHelloDone, () => ({}));
}

/** ClientKeyExchange (RFC 5246 §7.4.7): its layout depends on the key exchange; we report its size. */
export interface ClientKeyExchange {
  /** Bytes of exchange keys (an ECDHE point, a DH public value or an RSA-encrypted premaster secret). */
  length: number;
}

/** Decodes a ClientKeyExchange (header included). */
export function parseClientKeyExchange(message: Buffer): Parsed<ClientKeyExchange> {
  return decodeMessage(message, HandshakeType.clientKeyExchange, (c) => {
    const length = c.remaining;
    if (length === 0) throw new TlsDecodeError('ClientKeyExchange: empty', c.pos);
    c.bytes(length);
    return { length };
  });
}

/** Decodes a ChangeCipherSpec record fragment (RFC 5246 §7.1): exactly one byte, 1. */
export function parseChangeCipherSpec(fragment: Buffer): Parsed<{ value: 1 }> {
  if (fragment.length === 0) return incomplete(1);
  if (fragment[0] !== 1) return invalid('change_cipher_spec: not 1', 0);
  if (fragment.length !== 1) return invalid('change_cipher_spec: trailing bytes', 1);
  return ok({ value: 1 }, 1);
}

/** A decoded alert (RFC 8446 §6, RFC 5246 §7.2). */
export interface Alert {
  level: 'warning' | 'fatal';
  description: number;
  /** IANA name, e.g. unknown_ca. */
  name: string;
}

/** Decodes a plaintext alert record fragment: level (1 warning, 2 fatal) and description. */
export function parseAlert(fragment: Buffer): Parsed<Alert> {
  if (fragment.length < 2) return incomplete(2 - fragment.length);
  const levelByte = fragment[0]!;
  if (levelByte !== 1 && levelByte !== 2) return invalid('alert: unknown level', 0);
  // An alert record may carry several alerts (RFC 5246 §6.2.1 fragmentation rules); we read the first.
  const description = fragment[1]!;
  return ok({ level: levelByte === 1 ? 'warning' : 'fatal', description, name: alertName(description) }, 2);
}
