// The disk-backed BlobSink: bodies and raw TLS bytes stored once under their SHA-256. put() is synchronous for the
// proxy: it hashes, keeps the bytes in a bounded queue and returns; drain() writes the queue.
//  - Small blobs (up to `packMaxBytes`, 64 KiB by default: raw handshakes, most bodies) go to the session's pack
//    (blob-pack.ts), deduplicated within the session, written in one append per drain.
//  - Larger ones get a file each, shared by every session (a download fetched in ten sessions is stored once),
//    written as temp file + rename, so a blob file is always whole.

import { createHash, randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import type { BlobSink } from '../events/blob-sink.js';
import type { BlobPack } from './blob-pack.js';
import { blobPath, isSha256 } from './layout.js';
import { errorCode, type StoreFs } from './store-fs.js';

export interface DiskBlobSinkOptions {
  /** Bytes of unwritten blobs kept in memory; a blob that does not fit is dropped (its event keeps the ref). */
  maxPendingBytes: number;
  /** Told the first time this sink sees each blob stored as a file, so the session can list what it references. */
  onReference?: (sha256: string, size: number) => void;
  /** Told when a blob was dropped because the queue was full. */
  onDrop?: (sha256: string, size: number) => void;
  /** The session's pack for small blobs; without it every blob is a file. */
  pack?: BlobPack;
  /** Blobs up to this many bytes go to the pack (default 64 KiB). */
  packMaxBytes?: number;
  /** Asked when neither this session's pack nor the blob files hold a blob (e.g. it is in another session's pack). */
  fallback?: (sha256: string) => Promise<Buffer | null>;
}

/** Default size limit of packed blobs: raw handshakes and most bodies; a large download keeps its own shared file. */
export const PACK_MAX_BYTES = 64 * 1024;

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
  readonly #pack: BlobPack | null;
  readonly #packMaxBytes: number;
  #draining: Promise<void> | null = null;

  constructor(fs: StoreFs, dataDir: string, options: DiskBlobSinkOptions) {
    this.#fs = fs;
    this.#dataDir = dataDir;
    this.#options = options;
    this.#pack = options.pack ?? null;
    this.#packMaxBytes = options.packMaxBytes ?? PACK_MAX_BYTES;
  }

  /** Blobs waiting to be written. */
  get pendingCount(): number {
    return this.#pending.size + (this.#pack?.pendingCount ?? 0);
  }

  /** Bytes waiting to be written. */
  get pendingBytes(): number {
    return this.#pendingBytes + (this.#pack?.pendingBytes ?? 0);
  }

  put(data: Buffer): string {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const pack = this.#pack;
    if (pack !== null && data.length <= this.#packMaxBytes) {
      if (pack.has(sha256)) return sha256;
      if (this.#full(data.length)) {
        this.#options.onDrop?.(sha256, data.length);
        return sha256;
      }
      // The pack copies the bytes. A full index (a huge session) sends the blob to the files instead.
      if (pack.add(sha256, data) !== null) return sha256;
    }
    if (this.#known.has(sha256) || this.#pending.has(sha256)) return sha256;
    if (this.#full(data.length)) {
      this.#options.onDrop?.(sha256, data.length);
      return sha256;
    }
    // A copy: the caller may reuse its buffer once put() returns.
    this.#pending.set(sha256, Buffer.from(data));
    this.#pendingBytes += data.length;
    this.#options.onReference?.(sha256, data.length);
    return sha256;
  }

  #full(size: number): boolean {
    return this.pendingBytes + size > this.#options.maxPendingBytes || this.pendingCount >= MAX_PENDING_COUNT;
  }

  async get(sha256: string): Promise<Buffer | null> {
    const pending = this.#pending.get(sha256);
    if (pending) return pending;
    const packed = (await this.#pack?.get(sha256)) ?? null;
    if (packed) return packed;
    const file = await readBlob(this.#fs, this.#dataDir, sha256);
    if (file || !this.#options.fallback || !isSha256(sha256)) return file;
    return this.#options.fallback(sha256);
  }

  /** Writes every queued blob once. Rejects with the first fs error; failed blobs stay queued for the next drain. */
  drain(): Promise<void> {
    if (this.#draining) return this.#draining.then(() => this.drain());
    if (this.pendingCount === 0) return Promise.resolve();
    const run = this.#drainOnce().finally(() => {
      this.#draining = null;
    });
    this.#draining = run;
    return run;
  }

  async #drainOnce(): Promise<void> {
    // The pack first: one write for all small blobs. A refusal there stops the drain (the disk is the same).
    await this.#pack?.flush();
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
    try {
      await this.#writeFile(path, data);
    } catch (error) {
      // A session deletion (here or in another process) removed the prefix folder once it was empty (blob-gc.ts):
      // make it again, once.
      if (errorCode(error) !== 'ENOENT') throw error;
      await this.#writeFile(path, data);
    }
  }

  async #writeFile(path: string, data: Buffer): Promise<void> {
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
      if (errorCode(error) === 'ENOENT') this.#dirs.delete(dir);
      throw error;
    }
  }

  #remember(sha256: string): void {
    if (this.#known.size >= KNOWN_CAP) this.#known.clear();
    this.#known.add(sha256);
  }
}

/**
 * Reads one blob from a data directory, or null when the ref is malformed, the blob is gone, or its bytes no longer
 * match their SHA-256 (a file cut short or edited: it is never shown as the body it claims to be).
 */
export async function readBlob(fs: StoreFs, dataDir: string, sha256: string): Promise<Buffer | null> {
  if (!isSha256(sha256)) return null;
  try {
    const data = await fs.readFile(blobPath(dataDir, sha256));
    return createHash('sha256').update(data).digest('hex') === sha256 ? data : null;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw error;
  }
}
