// The live session's blob pack: small blobs (raw handshake bytes, small bodies) appended to one file per session in
// one positional write per flush, instead of a file each. A new TLS connection brings four handshake blobs; as files
// they cost a mkdir/stat/open/write/close/rename each on the thread pool, which was a quarter of the proxy's CPU per
// connection (issue 6). Here they cost a memcpy and a share of one write.
//
// Like AppendLog, a failed or short write is retried at the same position, so offsets handed out never move and a
// record already on disk is never damaged by a later write. Offsets are reported (for blobs.txt) only once the record
// is on disk.

import { buildPackIndex, PackReader } from './pack-reader.js';
import { encodePackRecord, PACK_HEADER_BYTES, type PackEntry } from './pack-format.js';
import type { StoreFileHandle, StoreFs } from './store-fs.js';

export interface BlobPackOptions {
  /** Blobs indexed at most (each costs a map entry, ~160 bytes); add() refuses beyond it. */
  maxIndexEntries: number;
  /** Told about records once they are on disk, in offset order, each once (the session lists them in blobs.txt). */
  onWritten?: (entries: PackEntry[]) => void;
}

interface PendingRecord extends PackEntry {
  record: Buffer;
}

export class BlobPack {
  readonly #handle: StoreFileHandle;
  readonly #reader: PackReader;
  readonly #maxIndexEntries: number;
  readonly #onWritten: (entries: PackEntry[]) => void;
  /** sha → offset of every blob in the pack, written or not. */
  readonly #index: Map<string, number>;
  /** Records not yet on disk, by sha (for get()). */
  readonly #pending = new Map<string, PendingRecord>();
  /** Records not yet in a write, in offset order. */
  #queue: PendingRecord[] = [];
  #queueBytes = 0;
  /** A write that failed or was cut short: retried, at the same position, before anything newer. */
  #retry: { chunk: Buffer; records: PendingRecord[] } | null = null;
  /** Bytes on disk known good: the next write starts here. */
  #size: number;
  #writing: Promise<void> | null = null;
  #closed = false;

  private constructor(handle: StoreFileHandle, index: Map<string, number>, size: number, options: BlobPackOptions) {
    this.#handle = handle;
    this.#index = index;
    this.#size = size;
    this.#maxIndexEntries = options.maxIndexEntries;
    this.#onWritten = options.onWritten ?? (() => {});
    this.#reader = new PackReader(async () => this.#handle);
  }

  /**
   * Opens (creating) the pack at `path`. `listed` are the entries the session's blobs.txt names; records after them
   * that are whole and valid are kept and returned as `recovered` (their blobs.txt lines were lost), and anything
   * after those (a torn write) is cut off, so new records never follow garbage.
   */
  static async open(
    fs: StoreFs,
    path: string,
    listed: Iterable<PackEntry> | AsyncIterable<PackEntry>,
    options: BlobPackOptions,
  ): Promise<{ pack: BlobPack; recovered: PackEntry[]; tornBytes: number }> {
    // 'a+' creates the file; positional writes need a plain read-write handle.
    await (await fs.open(path, 'a+', 0o600)).close();
    const handle = await fs.open(path, 'r+', 0o600);
    try {
      const fileSize = (await handle.stat()).size;
      const { index, end, recovered } = await buildPackIndex(new PackReader(async () => handle), fileSize, listed);
      if (end < fileSize) await handle.truncate(end);
      return { pack: new BlobPack(handle, index, end, options), recovered, tornBytes: fileSize - end };
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
  }

  /** Bytes on disk. */
  get size(): number {
    return this.#size;
  }

  /** Records waiting to be written. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Bytes (records with headers) waiting to be written. */
  get pendingBytes(): number {
    return this.#queueBytes + (this.#retry?.chunk.length ?? 0);
  }

  /** True when the pack holds (or is about to write) this blob. */
  has(sha256: string): boolean {
    return this.#index.has(sha256);
  }

  /**
   * Queues a blob (copied: the caller may reuse its buffer) and returns its offset, or null when the index is full
   * (the caller stores the blob another way).
   */
  add(sha256: string, data: Uint8Array): number | null {
    if (this.#closed || this.#index.size >= this.#maxIndexEntries) return null;
    const existing = this.#index.get(sha256);
    if (existing !== undefined) return existing;
    const offset = this.#size + this.pendingBytes;
    const pending: PendingRecord = { sha256, size: data.length, offset, record: encodePackRecord(sha256, data) };
    this.#index.set(sha256, offset);
    this.#pending.set(sha256, pending);
    this.#queue.push(pending);
    this.#queueBytes += pending.record.length;
    return offset;
  }

  /** The blob's bytes (from memory while unwritten), or null when the pack does not hold it or its record is damaged. */
  async get(sha256: string): Promise<Buffer | null> {
    const pending = this.#pending.get(sha256);
    if (pending) return pending.record.subarray(PACK_HEADER_BYTES);
    const offset = this.#index.get(sha256);
    if (offset === undefined || this.#closed) return null;
    return this.#reader.read(offset, sha256);
  }

  /**
   * Writes everything queued so far in one positional write (onWritten hears what reached the disk). Rejects with
   * the fs error when the disk refuses: the records stay queued and keep their offsets.
   */
  flush(): Promise<void> {
    if (this.#writing) return this.#writing.then(() => this.flush());
    if (this.#retry === null && this.#queue.length === 0) return Promise.resolve();
    const run = this.#write().finally(() => {
      this.#writing = null;
    });
    this.#writing = run;
    return run;
  }

  async #write(): Promise<void> {
    if (this.#queue.length > 0) {
      const records = this.#retry ? [...this.#retry.records, ...this.#queue] : this.#queue;
      const parts = this.#queue.map((pending) => pending.record);
      const chunk = Buffer.concat(this.#retry ? [this.#retry.chunk, ...parts] : parts);
      this.#retry = { chunk, records };
      this.#queue = [];
      this.#queueBytes = 0;
    }
    const { chunk, records } = this.#retry!;
    let written = 0;
    while (written < chunk.length) {
      // A short write leaves part of a record on disk; the loop (or the next flush) rewrites from #size.
      const { bytesWritten } = await this.#handle.write(chunk, written, chunk.length - written, this.#size + written);
      if (bytesWritten <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
      written += bytesWritten;
    }
    this.#size += chunk.length;
    this.#retry = null;
    for (const pending of records) this.#pending.delete(pending.sha256);
    this.#onWritten(records.map(({ sha256, size, offset }) => ({ sha256, size, offset })));
  }

  /** Flushes and closes; rejects if the last flush failed. Later add() calls return null. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } finally {
      this.#closed = true;
      await this.#handle.close().catch(() => {});
    }
  }
}
