// Reads records back from a blob pack (pack-format.ts). Reads go through a window: one positional read of 128 KiB
// serves every record inside it, so an export walking a pack in order costs one read per window, not one per blob.
// Every record is validated (length, hash) before its data is returned.

import { decodePackRecord, PACK_HEADER_BYTES, parsePackHeader, type PackEntry } from './pack-format.js';
import type { StoreFileHandle } from './store-fs.js';

/** Bytes read at once; at least one whole record of the default pack limit (64 KiB) plus its header. */
const WINDOW_BYTES = 128 * 1024;

/** A record read at an offset. */
export type PackRead = { kind: 'ok'; sha256: string; data: Buffer } | { kind: 'invalid' } | { kind: 'end' };

export class PackReader {
  readonly #handle: () => Promise<StoreFileHandle>;
  #window: Buffer = Buffer.alloc(0);
  #windowStart = 0;

  /** `handle` gives the open pack (called for each read that misses the window). */
  constructor(handle: () => Promise<StoreFileHandle>) {
    this.#handle = handle;
  }

  /** The blob `sha256` from the record at `offset`, or null when that record is missing, damaged or another blob's. */
  async read(offset: number, sha256: string): Promise<Buffer | null> {
    const read = await this.readAt(offset);
    return read.kind === 'ok' && read.sha256 === sha256 ? read.data : null;
  }

  /** The record at `offset`: its data (a copy), `invalid` when damaged, `end` when the pack ends before it is whole. */
  async readAt(offset: number): Promise<PackRead> {
    let bytes = this.#fromWindow(offset);
    let header = parsePackHeader(bytes);
    // At most two reads on a miss: a window at the offset, then the whole record if it is longer than the window.
    for (let reads = 0; reads < 2; reads++) {
      if (header.kind === 'invalid') return { kind: 'invalid' };
      if (header.kind === 'ok' && bytes.length >= PACK_HEADER_BYTES + header.size) break;
      await this.#fill(offset, header.kind === 'ok' ? PACK_HEADER_BYTES + header.size : PACK_HEADER_BYTES);
      bytes = this.#fromWindow(offset);
      header = parsePackHeader(bytes);
    }
    if (header.kind === 'invalid') return { kind: 'invalid' };
    // Still short after reading: the pack ends inside this record (a torn tail, or a write still under way).
    if (header.kind === 'incomplete' || bytes.length < PACK_HEADER_BYTES + header.size) return { kind: 'end' };
    const record = decodePackRecord(bytes);
    if (record === null) return { kind: 'invalid' };
    // A copy: the window is replaced on the next miss, and a caller keeping one small blob must not pin 128 KiB.
    return { kind: 'ok', sha256: record.sha256, data: Buffer.from(record.data) };
  }

  /** Forgets the window (the pack was truncated). */
  reset(): void {
    this.#window = Buffer.alloc(0);
    this.#windowStart = 0;
  }

  #fromWindow(offset: number): Buffer {
    const start = offset - this.#windowStart;
    if (start < 0 || start >= this.#window.length) return this.#window.subarray(0, 0);
    return this.#window.subarray(start);
  }

  async #fill(offset: number, need: number): Promise<void> {
    const handle = await this.#handle();
    const buffer = Buffer.allocUnsafe(Math.max(WINDOW_BYTES, need));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, offset + filled);
      if (bytesRead <= 0) break;
      filled += bytesRead;
    }
    // Only bytes the file had: a shorter read means the end of the pack (a record beyond it reads as `end`).
    this.#window = buffer.subarray(0, filled);
    this.#windowStart = offset;
  }
}

/** The sha → offset index of a pack, and where its valid records end. */
export interface PackIndex {
  index: Map<string, number>;
  /** End of the last valid record: where appends continue. */
  end: number;
  /** Whole records after the listed ones (written, but their blobs.txt lines were lost to a crash). */
  recovered: PackEntry[];
}

/**
 * Builds a pack's index from the entries its blobs.txt lists, then walks any records after the last listed one: a
 * crash can land between a pack write and the write of its blobs.txt lines, and those records are whole and valid.
 * The walk stops at the first record that is cut short or fails validation (a torn tail).
 */
export async function buildPackIndex(
  reader: PackReader,
  fileSize: number,
  listed: Iterable<PackEntry> | AsyncIterable<PackEntry>,
): Promise<PackIndex> {
  const index = new Map<string, number>();
  let end = 0;
  for await (const entry of listed) {
    const recordEnd = entry.offset + PACK_HEADER_BYTES + entry.size;
    // A listed record beyond the file was lost with it (e.g. a power loss before the page cache reached the disk).
    if (recordEnd > fileSize) continue;
    index.set(entry.sha256, entry.offset);
    if (recordEnd > end) end = recordEnd;
  }
  const recovered: PackEntry[] = [];
  while (end + PACK_HEADER_BYTES <= fileSize) {
    const read = await reader.readAt(end);
    if (read.kind !== 'ok') break;
    recovered.push({ sha256: read.sha256, size: read.data.length, offset: end });
    if (!index.has(read.sha256)) index.set(read.sha256, end);
    end += PACK_HEADER_BYTES + read.data.length;
  }
  return { index, end, recovered };
}
