// ServerHello / HelloRetryRequest decoder (RFC 8446 §4.1.3, §4.1.4; RFC 5246 §7.4.1.3). Pure; never throws.

import type { ServerHello, Span } from '../protocol/tls.js';
import { Cursor, TlsDecodeError } from './cursor.js';
import { HANDSHAKE_HEADER_LENGTH } from './client-hello.js';
import { Ext, type RawExtension, decodeExtension, rawHex, readHelloExtensions, readProtocolList, span } from './extensions.js';
import { type Parsed, incomplete, invalid, ok } from './parsed.js';

/**
 * RFC 8446 §4.1.3: a HelloRetryRequest is a ServerHello whose random is SHA-256("HelloRetryRequest").
 */
export const HELLO_RETRY_REQUEST_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c';

/** Decodes a ServerHello handshake message (including its 4-byte header); spans are offsets into `message`. */
export function parseServerHello(message: Buffer): Parsed<ServerHello> {
  if (message.length < HANDSHAKE_HEADER_LENGTH) return incomplete(HANDSHAKE_HEADER_LENGTH - message.length);
  if (message[0] !== 2) return invalid('not-server-hello', 0);
  const bodyLength = message.readUIntBE(1, 3);
  const total = HANDSHAKE_HEADER_LENGTH + bodyLength;
  if (message.length < total) return incomplete(total - message.length);
  try {
    return ok(decodeBody(new Cursor(message, HANDSHAKE_HEADER_LENGTH, total)), total);
  } catch (error) {
    if (error instanceof TlsDecodeError) return invalid(error.reason, error.offset);
    return invalid(`internal: ${(error as Error).message}`, 0);
  }
}

function decodeBody(c: Cursor): ServerHello {
  const fields: Record<string, Span> = {};
  let start = c.pos;
  const legacyVersion = c.u16('legacy_version');
  fields.legacyVersion = span(start, c.pos);

  start = c.pos;
  const random = c.bytes(32, 'random').toString('hex');
  fields.random = span(start, c.pos);

  start = c.pos;
  const sessionIdVector = c.vector(1, 'legacy_session_id_echo');
  if (sessionIdVector.remaining > 32) throw new TlsDecodeError('legacy_session_id_echo: longer than 32', start);
  const sessionId = sessionIdVector.bytes(sessionIdVector.remaining).toString('hex');
  fields.sessionId = span(start, c.pos);

  start = c.pos;
  const cipherSuite = c.u16('cipher_suite');
  fields.cipherSuite = span(start, c.pos);

  start = c.pos;
  const compressionMethod = c.u8('legacy_compression_method');
  fields.compressionMethod = span(start, c.pos);

  const helloRetryRequest = random === HELLO_RETRY_REQUEST_RANDOM;
  const hello: ServerHello = {
    legacyVersion,
    random,
    sessionId,
    cipherSuite,
    compressionMethod,
    extensions: [],
    selectedVersion: legacyVersion,
    keyShareGroup: null,
    alpn: null,
    helloRetryRequest,
    fields,
  };
  return readHelloExtensions(c, hello, 'server_hello', applyExtension);
}

function applyExtension(hello: ServerHello, ext: RawExtension): void {
  switch (ext.info.type) {
    case Ext.supportedVersions:
      // RFC 8446 §4.2.1: in a ServerHello/HRR this is one ProtocolVersion, the selected one.
      decodeExtension(ext, (d) => void (hello.selectedVersion = d.u16('selected_version')));
      return;
    case Ext.keyShare:
      // RFC 8446 §4.2.8: ServerHello carries one KeyShareEntry; a HelloRetryRequest only the selected_group.
      decodeExtension(ext, (d) => {
        hello.keyShareGroup = d.u16('key_share group');
        if (!hello.helloRetryRequest) d.vector(2, 'key_exchange'); // read past the share; its bytes are not shown
      });
      return;
    case Ext.alpn:
      // RFC 7301 §3.1: the server's list contains exactly one protocol.
      decodeExtension(ext, (d) => {
        const list = readProtocolList(d, 'alpn');
        if (list.length !== 1) throw new TlsDecodeError('alpn: server must select exactly one protocol', d.pos);
        hello.alpn = list[0]!;
      });
      return;
    default:
      ext.info.raw = rawHex(ext.data);
  }
}
