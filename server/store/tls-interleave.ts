// Rebuilds the order of a TLS conversation from its two directions, which the transcript keeps as two blobs (bytes
// towards and from mitmlab). Pure.
//
// Packet tools decrypt (Wireshark's TLS dissector) when each direction's records stay in order — always kept — and
// the ClientHello and ServerHello come before any encrypted record, so the randoms and cipher suite are known when
// the key log's secrets are applied. Beyond that, the order only makes the capture readable. Two sources:
//  1. the transcript's ladder (`steps`, in wire order), when it lines up with the records;
//  2. otherwise the protocol's flights: ClientHello; ServerHello (again after a HelloRetryRequest, RFC 8446
//     §4.1.4); the rest of the server's flight, up to its Finished (TLS 1.3, RFC 8446 §2) or ServerHelloDone
//     (TLS 1.2, RFC 5246 §7.3); the client's flight up to its Finished; then both sides one record at a time.

export interface TlsChunk {
  fromClient: boolean;
  bytes: Buffer;
  /** ms since the leg started, when the ladder said. */
  atMs?: number;
}

/** One rung of the ladder, reduced to what ordering needs. */
export interface LadderStep {
  fromClient: boolean;
  atMs: number;
}

const CONTENT_CCS = 20;
const CONTENT_HANDSHAKE = 22;
const CONTENT_APPLICATION = 23;
const HS_CLIENT_HELLO = 1;
const HS_SERVER_HELLO = 2;
const HS_SERVER_HELLO_DONE = 14;
const TLS13 = 0x0304;
/** Most records of a flight we look ahead for its Finished. */
const FLIGHT_LOOKAHEAD = 8;

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
export function handshakeTypes(record: Buffer): number[] {
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

/** The version a ServerHello record selects: supported_versions (RFC 8446 §4.2.1) if present, else legacy_version. */
export function selectedVersion(record: Buffer): number | null {
  if (record.length < 11 || record[5] !== HS_SERVER_HELLO) return null;
  const legacy = record.readUInt16BE(9);
  let offset = 43;
  if (offset >= record.length) return legacy;
  offset += 1 + record[offset]!; // session id
  offset += 3; // cipher suite, compression method
  if (offset + 2 > record.length) return legacy;
  const end = Math.min(record.length, offset + 2 + record.readUInt16BE(offset));
  offset += 2;
  while (offset + 4 <= end) {
    const type = record.readUInt16BE(offset);
    const length = record.readUInt16BE(offset + 2);
    if (type === 43 && length === 2 && offset + 6 <= end) return record.readUInt16BE(offset + 4);
    offset += 4 + length;
  }
  return legacy;
}

/**
 * A TLS 1.3 Finished record: verify_data is the hash length (32 or 48 bytes, RFC 8446 §4.4.4), plus the 4-byte
 * message header, the inner content type and the 16-byte AEAD tag. A padded record is not recognised; the caller
 * then falls back to alternating.
 */
function looksLikeTls13Finished(record: Buffer): boolean {
  const length = record.length - 5;
  return record[0] === CONTENT_APPLICATION && (length === 4 + 32 + 1 + 16 || length === 4 + 48 + 1 + 16);
}

class Cursor {
  index = 0;
  constructor(readonly records: Buffer[]) {}
  get done(): boolean {
    return this.index >= this.records.length;
  }
  peek(ahead = 0): Buffer | undefined {
    return this.records[this.index + ahead];
  }
}

/**
 * Orders both directions' records into one conversation (see the file comment). `order`, when the transcript kept
 * it, is the records' arrival order (runs: +n from the client, -n from the server) and wins over both guesses.
 */
export function interleaveTls(client: Buffer, server: Buffer, ladder: readonly LadderStep[] = [], order: readonly number[] = []): TlsChunk[] {
  const c = splitRecords(client);
  const s = splitRecords(server);
  const fromLadder = ladder.length > 0 ? followLadder(c, s, ladder) : null;
  const arrived = inArrivalOrder(c, s, order);
  if (arrived) {
    // The ladder still times the records it placed (the handshake); the rest are spread by the caller.
    const times = new Map((fromLadder ?? []).map((chunk) => [chunk.bytes, chunk.atMs]));
    return arrived.map((chunk) => {
      const atMs = times.get(chunk.bytes);
      return atMs === undefined ? chunk : { ...chunk, atMs };
    });
  }
  if (fromLadder && decryptable(fromLadder)) return fromLadder;
  return byFlights(c, s);
}

/** The records in the order the runs give, or null when the runs do not account for every record exactly. */
function inArrivalOrder(c: Buffer[], s: Buffer[], order: readonly number[]): TlsChunk[] | null {
  if (order.length === 0) return null;
  let fromClient = 0;
  let fromServer = 0;
  for (const run of order) {
    if (!Number.isInteger(run) || run === 0) return null;
    if (run > 0) fromClient += run;
    else fromServer -= run;
  }
  if (fromClient !== c.length || fromServer !== s.length) return null;
  const out: TlsChunk[] = [];
  let ci = 0;
  let si = 0;
  for (const run of order) {
    if (run > 0) for (let i = 0; i < run; i++) out.push({ fromClient: true, bytes: c[ci++]! });
    else for (let i = 0; i < -run; i++) out.push({ fromClient: false, bytes: s[si++]! });
  }
  return out;
}

/**
 * Follows the ladder: each rung takes the next record of its side; a plaintext handshake record holding several
 * messages covers as many rungs. Records beyond the ladder (its budget ran out) are appended by flights.
 */
function followLadder(c: Buffer[], s: Buffer[], ladder: readonly LadderStep[]): TlsChunk[] {
  const out: TlsChunk[] = [];
  const cursors = { client: new Cursor(c), server: new Cursor(s) };
  const owed = { client: 0, server: 0 };
  for (const step of ladder) {
    const side = step.fromClient ? 'client' : 'server';
    if (owed[side] > 0) {
      owed[side]--;
      continue;
    }
    const cursor = cursors[side];
    const record = cursor.peek();
    if (!record) continue;
    cursor.index++;
    out.push({ fromClient: step.fromClient, bytes: record, atMs: step.atMs });
    owed[side] = Math.max(0, handshakeTypes(record).length - 1);
  }
  const rest = byFlights(c.slice(cursors.client.index), s.slice(cursors.server.index), true);
  return [...out, ...rest];
}

/** The ClientHello precedes the ServerHello, which precedes every encrypted record: the decryption precondition. */
function decryptable(chunks: readonly TlsChunk[]): boolean {
  let clientHello = false;
  let serverHello = false;
  for (const chunk of chunks) {
    const types = handshakeTypes(chunk.bytes);
    if (chunk.fromClient && types.includes(HS_CLIENT_HELLO)) clientHello = true;
    if (!chunk.fromClient && types.includes(HS_SERVER_HELLO)) {
      if (!clientHello) return false;
      serverHello = true;
    }
    if (chunk.bytes[0] === CONTENT_APPLICATION && !serverHello) return false;
  }
  return true;
}

/** Orders by the protocol's flights; `resumed` skips the hello phase (the ladder already placed it). */
function byFlights(c: Buffer[], s: Buffer[], resumed = false): TlsChunk[] {
  const client = new Cursor(c);
  const server = new Cursor(s);
  const out: TlsChunk[] = [];
  const take = (cursor: Cursor, fromClient: boolean, count: number) => {
    for (let i = 0; i < count && !cursor.done; i++) out.push({ fromClient, bytes: cursor.records[cursor.index++]! });
  };
  /** Takes records up to and including the first that `stop` accepts; returns it, or null (nothing taken). */
  const takeThrough = (cursor: Cursor, fromClient: boolean, stop: (record: Buffer) => boolean, limit = Infinity): Buffer | null => {
    for (let i = 0; i < limit; i++) {
      const record = cursor.peek(i);
      if (!record) return null;
      if (stop(record)) {
        take(cursor, fromClient, i + 1);
        return record;
      }
    }
    return null;
  };

  let version: number | null = null;
  let serverHello: Buffer | null = null;
  let clientFirst = true;
  if (!resumed) {
    for (let round = 0; round < 3; round++) {
      if (!takeThrough(client, true, (r) => handshakeTypes(r).includes(HS_CLIENT_HELLO))) {
        take(client, true, Infinity);
        break;
      }
      serverHello = takeThrough(server, false, (r) => handshakeTypes(r).includes(HS_SERVER_HELLO));
      if (!serverHello) break;
      if (isHelloRetryRequest(serverHello)) continue;
      version = selectedVersion(serverHello);
      break;
    }
    const isCcs = (r: Buffer) => r[0] === CONTENT_CCS;
    if (version === TLS13) {
      // The server's flight, through its Finished; then the client's, through its own.
      if (takeThrough(server, false, looksLikeTls13Finished, FLIGHT_LOOKAHEAD)) {
        takeThrough(client, true, (r) => !isCcs(r) && looksLikeTls13Finished(r), 4);
      }
    } else if (version !== null && serverHello) {
      // TLS 1.2: the plaintext server flight ends with ServerHelloDone (full handshake, possibly in the ServerHello's
      // own record) or goes on with ChangeCipherSpec + Finished (resumption).
      const done = handshakeTypes(serverHello).includes(HS_SERVER_HELLO_DONE)
        ? serverHello
        : takeThrough(server, false, (r) => handshakeTypes(r).includes(HS_SERVER_HELLO_DONE) || r[0] !== CONTENT_HANDSHAKE, FLIGHT_LOOKAHEAD);
      if (done && isCcs(done)) {
        // Resumption: that was the server's ChangeCipherSpec; its Finished follows, then the client's CCS + Finished.
        take(server, false, 1);
        if (takeThrough(client, true, isCcs, 4)) take(client, true, 1);
      } else if (done && done[0] === CONTENT_HANDSHAKE) {
        // Full handshake: the client's key exchange, CCS and Finished; then the server's CCS and Finished.
        if (takeThrough(client, true, isCcs, 4)) take(client, true, 1);
        if (takeThrough(server, false, isCcs, 4)) take(server, false, 1);
      } else {
        clientFirst = false;
      }
    } else {
      clientFirst = false;
    }
  }
  // Application data: one record per turn, the client first (requests come before their responses).
  let clientTurn = clientFirst;
  while (!client.done || !server.done) {
    if ((clientTurn && !client.done) || server.done) take(client, true, 1);
    else take(server, false, 1);
    clientTurn = !clientTurn;
  }
  return out;
}
