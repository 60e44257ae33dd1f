// The byte format of a session's blob pack (blobs.pack) and of the lines of its blob list (blobs.txt). Pure: no I/O.
//
// A pack is a plain concatenation of records, appended in batches and never rewritten:
//
//   offset 0   4 bytes   magic "mlb1" (format version 1)
//   offset 4   4 bytes   data length, unsigned big-endian
//   offset 8   32 bytes  SHA-256 of the data
//   offset 40  n bytes   the data
//
// Every record carries its length and its hash, so a reader never trusts the file: a record cut short by a crash, a
// zero-filled tail after a power loss, or an offset pointing at the wrong record all fail validation and read as
// "not stored", and no damage after a record can reach it.

import { createHash } from 'node:crypto';
import { isSha256 } from './layout.js';

/** Bytes before a record's data. */
export const PACK_HEADER_BYTES = 40;
/** Largest data a record may hold: readers refuse longer lengths instead of allocating what a damaged header says. */
export const PACK_RECORD_MAX_BYTES = 1024 * 1024;

const MAGIC = Buffer.from('mlb1', 'latin1');

/** Where one packed blob lives. */
export interface PackEntry {
  sha256: string;
  /** Data bytes (the record is PACK_HEADER_BYTES longer). */
  size: number;
  /** Offset of the record's header in the pack. */
  offset: number;
}

/** A record header read from bytes. */
export type PackHeader =
  | { kind: 'ok'; sha256: string; size: number }
  | { kind: 'incomplete'; need: number }
  | { kind: 'invalid'; reason: string };

/** One record (header and data) for `data`, whose SHA-256 is `sha256` (lowercase hex, as put() computed it). */
export function encodePackRecord(sha256: string, data: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(PACK_HEADER_BYTES + data.length);
  MAGIC.copy(record, 0);
  record.writeUInt32BE(data.length, 4);
  record.write(sha256, 8, 32, 'hex');
  record.set(data, PACK_HEADER_BYTES);
  return record;
}

/** Reads the header at the start of `bytes`. Never throws. */
export function parsePackHeader(bytes: Uint8Array): PackHeader {
  if (bytes.length < PACK_HEADER_BYTES) return { kind: 'incomplete', need: PACK_HEADER_BYTES - bytes.length };
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (!view.subarray(0, 4).equals(MAGIC)) return { kind: 'invalid', reason: 'no record magic' };
  const size = view.readUInt32BE(4);
  if (size > PACK_RECORD_MAX_BYTES) return { kind: 'invalid', reason: `record length ${size} exceeds ${PACK_RECORD_MAX_BYTES}` };
  return { kind: 'ok', sha256: view.toString('hex', 8, PACK_HEADER_BYTES), size };
}

/**
 * The data of the record at the start of `bytes` when it is whole, its header names `sha256` (if given) and the data
 * hashes to it; null otherwise. `bytes` may run past the record. Never throws.
 */
export function decodePackRecord(bytes: Uint8Array, sha256?: string): { sha256: string; data: Buffer } | null {
  const header = parsePackHeader(bytes);
  if (header.kind !== 'ok') return null;
  if (sha256 !== undefined && header.sha256 !== sha256) return null;
  const end = PACK_HEADER_BYTES + header.size;
  if (bytes.length < end) return null;
  const data = Buffer.from(bytes.buffer, bytes.byteOffset + PACK_HEADER_BYTES, header.size);
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) return null;
  return { sha256: header.sha256, data };
}

/** A blobs.txt line: "<sha256> <size>" for a blob file, "<sha256> <size> <offset>" for a blob in the session's pack. */
export function formatBlobListLine(sha256: string, size: number, offset: number | null): string {
  return offset === null ? `${sha256} ${size}` : `${sha256} ${size} ${offset}`;
}

/** Parses a blobs.txt line; null for anything malformed. Never throws. */
export function parseBlobListLine(line: string): { sha256: string; size: number; offset: number | null } | null {
  const parts = line.split(' ');
  if (parts.length < 2 || parts.length > 3) return null;
  const [sha256, sizeText, offsetText] = parts as [string, string, string | undefined];
  if (!isSha256(sha256) || !/^\d{1,15}$/.test(sizeText)) return null;
  if (offsetText === undefined) return { sha256, size: Number(sizeText), offset: null };
  if (!/^\d{1,15}$/.test(offsetText)) return null;
  return { sha256, size: Number(sizeText), offset: Number(offsetText) };
}
