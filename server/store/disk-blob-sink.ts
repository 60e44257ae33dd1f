// The disk-backed BlobSink: bodies and raw TLS bytes stored once under their SHA-256, shared by every session
// (a page fetched in ten sessions is stored once). put() is synchronous for the proxy: it hashes, keeps the bytes in
// a bounded queue and returns; drain() writes the queue (temp file + rename, so a blob file is always whole).

import { createHash, randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import type { BlobSink } from '../events/blob-sink.js';
import { blobPath, isSha256 } from './layout.js';
import { errorCode, type StoreFs } from './store-fs.js';

export interface DiskBlobSinkOptions {
  /** Bytes of unwritten blobs kept in memory; a blob that does not fit is dropped (its event keeps the ref). */
  maxPendingBytes: number;
  /** Told the first time this sink sees each blob, so the session can list what it references. */
  onReference?: (sha256: string, size: number) => void;
  /** Told when a blob was dropped because the queue was full. */
  onDrop?: (sha256: string, size: number) => void;
}

/** Blobs remembered as already on disk, to skip the stat (older ones are simply checked again). */
const KNOWN_CAP = 100_000;
/** Unwritten blobs kept at most, whatever their size (each costs a map entry and a file write). */
const MAX_PENDING_COUNT = 100_000;
/** Parallel blob writes per drain. */
const WRITE_CONCURRENCY = 8;

export class DiskBlobSink implements BlobSink {
  readonly #fs: StoreFs;
  readonly #dataDir: string;
  readonly #options: DiskBlobSinkOptions;
  readonly #pending = new Map<string, Buffer>();
  #pendingBytes = 0;
  readonly #known = new Set<string>();
  readonly #dirs = new Set<string>();
  #draining: Promise<void> | null = null;

  constructor(fs: StoreFs, dataDir: string, options: DiskBlobSinkOptions) {
    this.#fs = fs;
    this.#dataDir = dataDir;
    this.#options = options;
  }

  /** Blobs waiting to be written. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Bytes waiting to be written. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  put(data: Buffer): string {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (this.#known.has(sha256) || this.#pending.has(sha256)) return sha256;
    if (this.#pendingBytes + data.length > this.#options.maxPendingBytes || this.#pending.size >= MAX_PENDING_COUNT) {
      this.#options.onDrop?.(sha256, data.length);
      return sha256;
    }
    // A copy: the caller may reuse its buffer once put() returns.
    this.#pending.set(sha256, Buffer.from(data));
    this.#pendingBytes += data.length;
    this.#options.onReference?.(sha256, data.length);
    return sha256;
  }

  async get(sha256: string): Promise<Buffer | null> {
    const pending = this.#pending.get(sha256);
    if (pending) return pending;
    return readBlob(this.#fs, this.#dataDir, sha256);
  }

  /** Writes every queued blob once. Rejects with the first fs error; failed blobs stay queued for the next drain. */
  drain(): Promise<void> {
    if (this.#draining) return this.#draining.then(() => this.drain());
    if (this.#pending.size === 0) return Promise.resolve();
    const run = this.#drainOnce().finally(() => {
      this.#draining = null;
    });
    this.#draining = run;
    return run;
  }

  async #drainOnce(): Promise<void> {
    const queue = [...this.#pending.keys()];
    let failure: unknown = null;
    const worker = async (): Promise<void> => {
      for (let sha = queue.shift(); sha !== undefined; sha = queue.shift()) {
        const data = this.#pending.get(sha);
        if (!data) continue;
        try {
          await this.#write(sha, data);
          this.#pending.delete(sha);
          this.#pendingBytes -= data.length;
          this.#remember(sha);
        } catch (error) {
          failure ??= error;
          // The disk refuses: stop this drain, keep the rest queued.
          queue.length = 0;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, queue.length) }, worker));
    if (failure !== null) throw failure;
  }

  async #write(sha256: string, data: Buffer): Promise<void> {
    const path = blobPath(this.#dataDir, sha256);
    try {
      // Already stored by this or another session: touch it, so a concurrent deletion's grace period spares it
      // until our blobs.txt lists it (see blob-gc.ts).
      await this.#fs.stat(path);
      const now = new Date();
      await this.#fs.utimes(path, now, now).catch(() => {});
      return;
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
    const dir = dirname(path);
    if (!this.#dirs.has(dir)) {
      await this.#fs.mkdir(dir, { recursive: true, mode: 0o700 });
      this.#dirs.add(dir);
    }
    const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await this.#fs.writeFile(temp, data, { mode: 0o600, flag: 'wx' });
      await this.#fs.rename(temp, path);
    } catch (error) {
      await this.#fs.unlink(temp).catch(() => {});
      // The prefix folder may have been removed by a deletion in another process: recreate it next time.
      if (errorCode(error) === 'ENOENT') this.#dirs.delete(dir);
      throw error;
    }
  }

  #remember(sha256: string): void {
    if (this.#known.size >= KNOWN_CAP) this.#known.clear();
    this.#known.add(sha256);
  }
}

/** Reads one blob from a data directory, or null when the ref is malformed or the blob is gone. */
export async function readBlob(fs: StoreFs, dataDir: string, sha256: string): Promise<Buffer | null> {
  if (!isSha256(sha256)) return null;
  try {
    return await fs.readFile(blobPath(dataDir, sha256));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
}
