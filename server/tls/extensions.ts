// Hello extension blocks (RFC 8446 §4.2): framing shared by ClientHello and ServerHello, and the decoders for the
// extension bodies both hellos use. Decoders read a bounded Cursor and throw TlsDecodeError on malformed data;
// the hello parsers catch that per extension, so one bad extension never hides the rest of the hello.

import type { HelloExtension, Span } from '../protocol/tls.js';
import { Cursor, TlsDecodeError } from './cursor.js';
import { extensionName, isGrease } from './iana.js';

/** Hex shown for undecoded extensions is capped (HelloExtension.raw). */
export const RAW_HEX_CAP = 256;

/** Extension type code points this layer decodes (IANA TLS ExtensionType Values; ALPS is a Chrome codepoint). */
export const Ext = {
  serverName: 0,
  statusRequest: 5,
  supportedGroups: 10,
  ecPointFormats: 11,
  signatureAlgorithms: 13,
  alpn: 16,
  signedCertificateTimestamp: 18,
  padding: 21,
  extendedMasterSecret: 23,
  compressCertificate: 27,
  recordSizeLimit: 28,
  sessionTicket: 35,
  preSharedKey: 41,
  supportedVersions: 43,
  pskKeyExchangeModes: 45,
  keyShare: 51,
  applicationSettingsOld: 17513,
  applicationSettings: 17613,
  encryptedClientHello: 0xfe0d,
  renegotiationInfo: 0xff01,
} as const;

/** One framed extension: its descriptor plus a cursor over its data. */
export interface RawExtension {
  info: HelloExtension;
  data: Cursor;
}

/** Reads the extensions block (2-byte length, then type/length/data triples) at the cursor. */
export function readExtensionBlock(c: Cursor): RawExtension[] {
  const block = c.vector(2, 'extensions');
  const out: RawExtension[] = [];
  while (block.remaining > 0) {
    const start = block.pos;
    const type = block.u16('extension type');
    const data = block.vector(2, `extension ${type}`);
    out.push({
      info: { type, name: extensionName(type), grease: isGrease(type), span: { offset: start, length: block.pos - start } },
      data,
    });
  }
  return out;
}

/** Hex of the extension's data, capped at RAW_HEX_CAP bytes. */
export function rawHex(data: Cursor): string {
  return data.buf.subarray(data.pos, data.pos + Math.min(data.remaining, RAW_HEX_CAP)).toString('hex');
}

/** Runs a decoder on one extension; a decode error is recorded on the extension, not thrown. */
export function decodeExtension(ext: RawExtension, decode: (data: Cursor) => void): void {
  const raw = rawHex(ext.data);
  try {
    decode(ext.data);
    ext.data.done(ext.info.name);
  } catch (error) {
    if (!(error instanceof TlsDecodeError)) throw error;
    ext.info.error = error.reason;
    ext.info.raw = raw;
  }
}

/** A list of u8-length-prefixed strings inside a u16 vector (ALPN, RFC 7301 §3.1; ALPS has the same shape). */
export function readProtocolList(data: Cursor, what: string): string[] {
  const list = data.vector(2, what);
  const out: string[] = [];
  while (list.remaining > 0) {
    const len = list.u8(what);
    // RFC 7301 §3.1: empty protocol names are not allowed.
    if (len === 0) throw new TlsDecodeError(`${what}: empty protocol name`, list.pos - 1);
    // latin1 keeps one char per byte, so JA4 can look at the exact first and last bytes.
    out.push(list.bytes(len, what).toString('latin1'));
  }
  return out;
}

/** Flags repeated extension types (RFC 8446 §4.2: "There MUST NOT be more than one extension of the same type"). */
export function flagDuplicates(exts: RawExtension[]): void {
  const seen = new Set<number>();
  for (const ext of exts) {
    if (seen.has(ext.info.type)) ext.info.error = 'duplicate extension';
    seen.add(ext.info.type);
  }
}

/** A field's position in the message. */
export function span(start: number, end: number): Span {
  return { offset: start, length: end - start };
}

/**
 * Reads the extensions block that ends a hello — optional before TLS 1.3 (RFC 5246 §7.4.1.2–3) — records its span,
 * checks nothing trails it, and applies each extension to the hello in wire order.
 */
export function readHelloExtensions<H extends { extensions: HelloExtension[]; fields: Record<string, Span> }>(
  c: Cursor,
  hello: H,
  what: string,
  apply: (hello: H, ext: RawExtension) => void,
): H {
  if (c.remaining === 0) return hello;
  const start = c.pos;
  const exts = readExtensionBlock(c);
  hello.fields.extensions = span(start, c.pos);
  c.done(what);
  flagDuplicates(exts);
  for (const ext of exts) {
    apply(hello, ext);
    hello.extensions.push(ext.info);
  }
  return hello;
}
