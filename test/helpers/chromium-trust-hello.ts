// The independent oracle for a ClientHello that mitmlab recorded: read-tls-client-hello (devDependency, test oracle
// only) parses the same bytes mitmlab parsed, so JA3/JA4 and the decoded groups can be compared without trusting
// server/tls.

import { PassThrough } from 'node:stream';
import { calculateJa3, calculateJa4, readTlsClientHello, type TlsClientHelloMessage } from 'read-tls-client-hello';

/** What read-tls-client-hello makes of one hello: its parse and its JA3 (MD5) and JA4. */
export interface OracleHello {
  message: TlsClientHelloMessage;
  ja3Hash: string;
  ja4: string;
}

/**
 * Wraps a handshake message (the `raw` field of a tls-client-hello event, base64) in TLS records — the package
 * reads a record stream, not a bare message — and parses it with read-tls-client-hello.
 * `recordVersion` is the version the browser put in its record header (RFC 8446 §5.1: 0x0301 for a first hello).
 */
export async function oracleHello(rawBase64: string, recordVersion = 0x0301): Promise<OracleHello> {
  const message = Buffer.from(rawBase64, 'base64');
  // A record carries at most 2^14 bytes of plaintext (RFC 8446 §5.1); post-quantum key shares make hellos bigger,
  // so split like a client would.
  const records: Buffer[] = [];
  for (let offset = 0; offset < message.length; offset += 16_384) {
    const fragment = message.subarray(offset, offset + 16_384);
    const header = Buffer.alloc(5);
    header[0] = 22; // handshake
    header.writeUInt16BE(recordVersion, 1);
    header.writeUInt16BE(fragment.length, 3);
    records.push(header, fragment);
  }
  // A stream that stays open, like the socket the package expects (it unshifts the bytes back afterwards).
  const stream = new PassThrough();
  stream.write(Buffer.concat(records));
  try {
    const parsed = await readTlsClientHello(stream);
    return { message: parsed, ja3Hash: calculateJa3(parsed), ja4: calculateJa4(parsed) };
  } finally {
    stream.destroy();
  }
}
