// ClientHello decoder (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2): every field and extension keeps its Span so the UI can
// highlight it in the raw bytes. Pure; never throws.

import type { ClientHello, KeyShareEntry, Span } from '../protocol/tls.js';
import { Cursor, TlsDecodeError } from './cursor.js';
import { Ext, type RawExtension, decodeExtension, rawHex, readHelloExtensions, readProtocolList, span } from './extensions.js';
import { type Parsed, incomplete, invalid, ok } from './parsed.js';

/** Handshake message header: msg_type (1 byte) + length (3 bytes). */
export const HANDSHAKE_HEADER_LENGTH = 4;

/**
 * Decodes a ClientHello handshake message (including its 4-byte header). `recordVersion` is the version of the
 * record that carried it, when the caller knows it (0 = unknown). Spans are offsets into `message`; spans of
 * variable-length fields include their length prefix.
 */
export function parseClientHello(message: Buffer, recordVersion = 0): Parsed<ClientHello> {
  if (message.length < HANDSHAKE_HEADER_LENGTH) return incomplete(HANDSHAKE_HEADER_LENGTH - message.length);
  if (message[0] !== 1) return invalid('not-client-hello', 0);
  const bodyLength = message.readUIntBE(1, 3);
  const total = HANDSHAKE_HEADER_LENGTH + bodyLength;
  if (message.length < total) return incomplete(total - message.length);
  try {
    return ok(decodeBody(new Cursor(message, HANDSHAKE_HEADER_LENGTH, total), recordVersion), total);
  } catch (error) {
    if (error instanceof TlsDecodeError) return invalid(error.reason, error.offset);
    return invalid(`internal: ${(error as Error).message}`, 0);
  }
}

function decodeBody(c: Cursor, recordVersion: number): ClientHello {
  const fields: Record<string, Span> = {};

  let start = c.pos;
  const legacyVersion = c.u16('legacy_version');
  fields.legacyVersion = span(start, c.pos);

  start = c.pos;
  const random = c.bytes(32, 'random').toString('hex');
  fields.random = span(start, c.pos);

  start = c.pos;
  const sessionIdVector = c.vector(1, 'legacy_session_id');
  // RFC 8446 §4.1.2: opaque legacy_session_id<0..32>.
  if (sessionIdVector.remaining > 32) throw new TlsDecodeError('legacy_session_id: longer than 32', start);
  const sessionId = sessionIdVector.bytes(sessionIdVector.remaining).toString('hex');
  fields.sessionId = span(start, c.pos);

  start = c.pos;
  const suites = c.vector(2, 'cipher_suites');
  // CipherSuite cipher_suites<2..2^16-2>: a whole number of 2-byte suites, at least one.
  if (suites.remaining < 2 || suites.remaining % 2 !== 0) throw new TlsDecodeError('cipher_suites: bad length', start);
  const cipherSuites: number[] = [];
  while (suites.remaining > 0) cipherSuites.push(suites.u16('cipher_suites'));
  fields.cipherSuites = span(start, c.pos);

  start = c.pos;
  const compressionMethods = c.u8List(1, 'legacy_compression_methods');
  if (compressionMethods.length === 0) throw new TlsDecodeError('legacy_compression_methods: empty', start);
  fields.compressionMethods = span(start, c.pos);

  const hello: ClientHello = {
    recordVersion,
    legacyVersion,
    random,
    sessionId,
    cipherSuites,
    compressionMethods,
    extensions: [],
    serverName: null,
    alpn: [],
    supportedGroups: [],
    ecPointFormats: [],
    signatureAlgorithms: [],
    supportedVersions: [],
    keyShares: [],
    pskKeyExchangeModes: [],
    preSharedKey: false,
    statusRequest: false,
    signedCertificateTimestamp: false,
    extendedMasterSecret: false,
    sessionTicket: false,
    renegotiationInfo: false,
    encryptedClientHello: false,
    compressCertificate: [],
    recordSizeLimit: null,
    applicationSettings: [],
    paddingLength: null,
    fields,
  };

  return readHelloExtensions(c, hello, 'client_hello', applyExtension);
}

/** Decodes one extension into the hello's summary fields; unknown ones keep their raw hex. */
function applyExtension(hello: ClientHello, ext: RawExtension): void {
  const type = ext.info.type;
  switch (type) {
    case Ext.serverName:
      // RFC 6066 §3: ServerNameList; the first host_name (type 0) is the name. A name that is not printable
      // ASCII is shown escaped rather than dropped: it is exactly what a student should see.
      decodeExtension(ext, (d) => {
        const list = d.vector(2, 'server_name_list');
        while (list.remaining > 0) {
          const nameType = list.u8('name_type');
          const name = list.vector(2, 'host_name');
          const bytes = name.bytes(name.remaining);
          if (nameType === 0 && hello.serverName === null) hello.serverName = printable(bytes);
        }
      });
      return;
    case Ext.supportedGroups:
      decodeExtension(ext, (d) => void (hello.supportedGroups = d.u16List(2, 'supported_groups')));
      return;
    case Ext.ecPointFormats:
      decodeExtension(ext, (d) => void (hello.ecPointFormats = d.u8List(1, 'ec_point_formats')));
      return;
    case Ext.signatureAlgorithms:
      decodeExtension(ext, (d) => void (hello.signatureAlgorithms = d.u16List(2, 'signature_algorithms')));
      return;
    case Ext.alpn:
      decodeExtension(ext, (d) => void (hello.alpn = readProtocolList(d, 'alpn')));
      return;
    case Ext.supportedVersions:
      // RFC 8446 §4.2.1: ProtocolVersion versions<2..254> in the ClientHello.
      decodeExtension(ext, (d) => void (hello.supportedVersions = d.u16List(1, 'supported_versions')));
      return;
    case Ext.keyShare:
      // RFC 8446 §4.2.8: KeyShareEntry client_shares<0..2^16-1>, each group + key_exchange<1..2^16-1>.
      decodeExtension(ext, (d) => {
        const list = d.vector(2, 'client_shares');
        const shares: KeyShareEntry[] = [];
        while (list.remaining > 0) {
          const group = list.u16('key_share group');
          const key = list.vector(2, 'key_exchange');
          shares.push({ group, keyLength: key.remaining });
          key.bytes(key.remaining);
        }
        hello.keyShares = shares;
      });
      return;
    case Ext.pskKeyExchangeModes:
      decodeExtension(ext, (d) => void (hello.pskKeyExchangeModes = d.u8List(1, 'psk_key_exchange_modes')));
      return;
    case Ext.preSharedKey:
      hello.preSharedKey = true;
      ext.info.raw = rawHex(ext.data);
      return;
    case Ext.statusRequest:
      hello.statusRequest = true;
      ext.info.raw = rawHex(ext.data);
      return;
    case Ext.signedCertificateTimestamp:
      hello.signedCertificateTimestamp = true;
      return;
    case Ext.extendedMasterSecret:
      hello.extendedMasterSecret = true;
      return;
    case Ext.sessionTicket:
      hello.sessionTicket = true;
      if (ext.data.remaining > 0) ext.info.raw = rawHex(ext.data);
      return;
    case Ext.renegotiationInfo:
      hello.renegotiationInfo = true;
      ext.info.raw = rawHex(ext.data);
      return;
    case Ext.encryptedClientHello:
      // Presence only: the payload is ciphertext (or GREASE ECH, draft-ietf-tls-esni §6.2).
      hello.encryptedClientHello = true;
      return;
    case Ext.compressCertificate:
      // RFC 8879 §3: CertificateCompressionAlgorithm algorithms<2..2^8-2>.
      decodeExtension(ext, (d) => void (hello.compressCertificate = d.u16List(1, 'compress_certificate')));
      return;
    case Ext.recordSizeLimit:
      // RFC 8449 §4: uint16 RecordSizeLimit.
      decodeExtension(ext, (d) => void (hello.recordSizeLimit = d.u16('record_size_limit')));
      return;
    case Ext.applicationSettings:
    case Ext.applicationSettingsOld:
      // draft-vvv-tls-alps §4: ProtocolName supported_protocols<2..2^16-1> (same shape as ALPN).
      decodeExtension(ext, (d) => {
        for (const p of readProtocolList(d, 'application_settings')) {
          if (!hello.applicationSettings.includes(p)) hello.applicationSettings.push(p);
        }
      });
      return;
    case Ext.padding:
      // RFC 7685: zero bytes whose only job is to change the hello's length.
      hello.paddingLength = ext.data.remaining;
      return;
    default:
      ext.info.raw = rawHex(ext.data);
  }
}

/** Printable ASCII as is; anything else \xNN-escaped (a hostile SNI must not smuggle control characters). */
function printable(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}
