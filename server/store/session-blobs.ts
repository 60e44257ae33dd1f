// Reading the blobs of a stored session: those in its pack (found through its blobs.txt) and the shared blob files.
// Serves exports (`loadSession(...).blob(sha)`) and the live view's body fetches for past sessions.

import { readBlob } from './disk-blob-sink.js';
import { blobListPath, isSha256, packPath } from './layout.js';
import { parseBlobListLine, type PackEntry } from './pack-format.js';
import { buildPackIndex, PackReader } from './pack-reader.js';
import { readLines } from './session-reader.js';
import { errorCode, type StoreFileHandle, type StoreFs } from './store-fs.js';

/** A pack handle left open this long without reads is closed (exports read many blobs in a row, REST one). */
const IDLE_CLOSE_MS = 2000;

/** The pack entries a blobs.txt lists, in order (none when the file is missing; malformed lines are skipped). */
export async function* listedPackEntries(path: string): AsyncGenerator<PackEntry> {
  try {
    for await (const line of readLines(path)) {
      const entry = parseBlobListLine(line.toString('latin1'));
      if (entry && entry.offset !== null) yield { sha256: entry.sha256, size: entry.size, offset: entry.offset };
    }
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}

/** Blobs of one stored session. The pack's index is built on first use; the file handle closes when idle. */
export class SessionBlobs {
  readonly #fs: StoreFs;
  readonly #dataDir: string;
  readonly #id: string;
  readonly #reader: PackReader;
  #index: Promise<Map<string, number>> | null = null;
  #handle: Promise<StoreFileHandle> | null = null;
  #active = 0;
  #idleTimer: NodeJS.Timeout | null = null;

  constructor(fs: StoreFs, dataDir: string, id: string) {
    this.#fs = fs;
    this.#dataDir = dataDir;
    this.#id = id;
    this.#reader = new PackReader(() => this.#open());
  }

  /** A body or raw-bytes blob by SHA-256, or null when not stored (never captured, lost to a crash, or damaged). */
  async blob(sha256: string): Promise<Buffer | null> {
    if (!isSha256(sha256)) return null;
    this.#active++;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    try {
      const offset = (await this.#loadIndex()).get(sha256);
      if (offset !== undefined) {
        const data = await this.#reader.read(offset, sha256);
        if (data) return data;
      }
      return await readBlob(this.#fs, this.#dataDir, sha256);
    } finally {
      this.#active--;
      if (this.#active === 0 && this.#handle) {
        this.#idleTimer = setTimeout(() => void this.close(), IDLE_CLOSE_MS);
        this.#idleTimer.unref();
      }
    }
  }

  /** Closes the pack file (a later blob() opens it again). */
  async close(): Promise<void> {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    const handle = this.#handle;
    this.#handle = null;
    this.#reader.reset();
    if (handle) await (await handle.catch(() => null))?.close().catch(() => {});
  }

  #loadIndex(): Promise<Map<string, number>> {
    this.#index ??= (async () => {
      let size: number;
      try {
        size = (await this.#fs.stat(packPath(this.#dataDir, this.#id))).size;
      } catch (error) {
        // Sessions written before packs existed, or with no small blob: every blob is a file.
        if (errorCode(error) === 'ENOENT') return new Map<string, number>();
        throw error;
      }
      const { index } = await buildPackIndex(this.#reader, size, listedPackEntries(blobListPath(this.#dataDir, this.#id)));
      return index;
    })();
    // A failed load (e.g. EACCES) is retried on the next call rather than remembered.
    this.#index.catch(() => {
      this.#index = null;
    });
    return this.#index;
  }

  #open(): Promise<StoreFileHandle> {
    if (!this.#handle) {
      const opening = this.#fs.open(packPath(this.#dataDir, this.#id), 'r');
      this.#handle = opening;
      opening.catch(() => {
        if (this.#handle === opening) this.#handle = null;
      });
    }
    return this.#handle;
  }
}

/**
 * Looks for a blob in the packs of `ids` (in that order) through their blobs.txt: what the live view's body fetch
 * needs for a past session's small bodies, whose REST route names only the SHA-256. One streamed pass over each
 * list until found; null when none holds it.
 */
export async function findPackedBlob(fs: StoreFs, dataDir: string, sha256: string, ids: readonly string[]): Promise<Buffer | null> {
  if (!isSha256(sha256)) return null;
  const needle = Buffer.from(`${sha256} `, 'latin1');
  for (const id of ids) {
    let found: PackEntry | null = null;
    try {
      for await (const line of readLines(blobListPath(dataDir, id))) {
        if (line.length <= needle.length || !line.subarray(0, needle.length).equals(needle)) continue;
        const entry = parseBlobListLine(line.toString('latin1'));
        if (entry && entry.offset !== null) {
          found = { sha256, size: entry.size, offset: entry.offset };
          break;
        }
      }
    } catch {
      continue; // no list, or unreadable: the next session may hold it
    }
    if (!found) continue;
    let handle: StoreFileHandle | null = null;
    try {
      handle = await fs.open(packPath(dataDir, id), 'r');
      const opened = handle;
      const data = await new PackReader(async () => opened).read(found.offset, sha256);
      if (data) return data;
    } catch {
      // A pack deleted meanwhile or unreadable: keep looking.
    } finally {
      await handle?.close().catch(() => {});
    }
  }
  return null;
}
