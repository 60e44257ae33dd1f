// Rebuilds a plausible order of a TLS conversation from its two directions captured separately (the transcript keeps
// the bytes towards and from mitmlab as two blobs). Pure.
//
// What packet tools need to decrypt (Wireshark's TLS dissector): each direction's records in order — kept exactly —
// and the ClientHello and ServerHello before any encrypted record, so the cipher suite and randoms are known when
// the keys from the key log are applied. So: the ClientHello flight, the ServerHello flight (again after a
// HelloRetryRequest, RFC 8446 §4.1.4), the server's plaintext handshake messages (TLS 1.2), then both directions
// one record at a time, which keeps requests close to their responses.

export interface TlsChunk {
  fromClient: boolean;
  bytes: Buffer;
}

const CONTENT_HANDSHAKE = 22;
const HS_CLIENT_HELLO = 1;
const HS_SERVER_HELLO = 2;
const HS_SERVER_HELLO_DONE = 14;

// RFC 8446 §4.1.3: a HelloRetryRequest is a ServerHello whose random is SHA-256("HelloRetryRequest").
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

/** Splits bytes into whole TLS records (5-byte header + length, RFC 8446 §5.1); a partial tail is its own chunk. */
export function splitRecords(bytes: Buffer): Buffer[] {
  const records: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const length = bytes.readUInt16BE(offset + 3);
    const end = offset + 5 + length;
    if (end > bytes.length) break;
    records.push(bytes.subarray(offset, end));
    offset = end;
  }
  if (offset < bytes.length) records.push(bytes.subarray(offset));
  return records;
}

/** Handshake message types starting in a plaintext handshake record (stops at a message that continues beyond it). */
function handshakeTypes(record: Buffer): number[] {
  if (record.length < 5 || record[0] !== CONTENT_HANDSHAKE) return [];
  const types: number[] = [];
  let offset = 5;
  while (offset + 4 <= record.length) {
    types.push(record[offset]!);
    offset += 4 + record.readUIntBE(offset + 1, 3);
  }
  return types;
}

function isHelloRetryRequest(record: Buffer): boolean {
  // record header 5, handshake header 4, legacy_version 2, then the 32-byte random.
  return record[5] === HS_SERVER_HELLO && record.length >= 43 && record.subarray(11, 43).equals(HRR_RANDOM);
}

/** Orders the records of both directions into one conversation (see the file comment). */
export function interleaveTls(client: Buffer, server: Buffer): TlsChunk[] {
  const c = splitRecords(client);
  const s = splitRecords(server);
  const out: TlsChunk[] = [];
  let ci = 0;
  let si = 0;
  const takeUntil = (fromClient: boolean, hsType: number): Buffer | null => {
    const list = fromClient ? c : s;
    while (fromClient ? ci < list.length : si < list.length) {
      const record = list[fromClient ? ci++ : si++]!;
      out.push({ fromClient, bytes: record });
      if (handshakeTypes(record).includes(hsType)) return record;
    }
    return null;
  };
  for (let round = 0; round < 3; round++) {
    if (takeUntil(true, HS_CLIENT_HELLO) === null) break;
    const serverHello = takeUntil(false, HS_SERVER_HELLO);
    if (serverHello === null || !isHelloRetryRequest(serverHello)) break;
  }
  // TLS 1.2: Certificate, ServerKeyExchange, ServerHelloDone… are plaintext handshake records sent in one flight.
  let helloDone = false;
  while (si < s.length && s[si]![0] === CONTENT_HANDSHAKE && handshakeTypes(s[si]!).length > 0) {
    helloDone ||= handshakeTypes(s[si]!).includes(HS_SERVER_HELLO_DONE);
    out.push({ fromClient: false, bytes: s[si++]! });
  }
  // Then one record per turn: the client first after a TLS 1.2 ServerHelloDone (it owes the key exchange), else
  // the server (its TLS 1.3 flight goes on after the ServerHello).
  let serverTurn = !helloDone;
  while (ci < c.length || si < s.length) {
    if ((serverTurn && si < s.length) || ci >= c.length) out.push({ fromClient: false, bytes: s[si++]! });
    else out.push({ fromClient: true, bytes: c[ci++]! });
    serverTurn = !serverTurn;
  }
  return out;
}
