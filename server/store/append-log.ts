// An append-only line log with a bounded in-memory buffer. Lines are joined and written in one positional write per
// flush, so a line is never split across writes: after a crash the file is whole lines plus at most one torn tail.
// A failed or short write is retried at the same position (overwriting any partial bytes), so earlier lines are never
// corrupted and no accepted line is lost while the buffer has room (issue 4 §2, §6).

import type { StoreFileHandle, StoreFs } from './store-fs.js';

export interface AppendLogOptions {
  /** Bytes kept in memory waiting for the disk; lines beyond it are dropped and counted. */
  maxBufferBytes: number;
}

export class AppendLog {
  readonly #handle: StoreFileHandle;
  readonly #maxBufferBytes: number;
  /** Bytes on disk known good: the next write starts here. */
  #size: number;
  #lines: string[] = [];
  #lineBytes = 0;
  /** A chunk whose write failed or was cut short; it is retried before anything newer. */
  #retry: Buffer | null = null;
  #writing: Promise<void> | null = null;
  #dropped = 0;
  #closed = false;

  private constructor(handle: StoreFileHandle, size: number, options: AppendLogOptions) {
    this.#handle = handle;
    this.#size = size;
    this.#maxBufferBytes = options.maxBufferBytes;
  }

  /**
   * Opens (creating) `path` for appending. A torn tail from an earlier crash is cut back to the last newline, so new
   * lines never glue onto a partial one; `onTornTail` is told how many bytes went.
   */
  static async open(fs: StoreFs, path: string, options: AppendLogOptions, onTornTail?: (bytes: number) => void): Promise<AppendLog> {
    const handle = await fs.open(path, 'a+', 0o600);
    try {
      let size = (await handle.stat()).size;
      const goodSize = await lastNewlineEnd(handle, size);
      if (goodSize < size) {
        await handle.truncate(goodSize);
        onTornTail?.(size - goodSize);
        size = goodSize;
      }
      // 'a+' would force every write to the end; positional writes need a plain read-write handle.
      await handle.close();
      const writable = await fs.open(path, 'r+', 0o600);
      return new AppendLog(writable, size, options);
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
  }

  /** Bytes on disk. */
  get size(): number {
    return this.#size;
  }

  /** Bytes waiting in memory. */
  get bufferedBytes(): number {
    return this.#lineBytes + (this.#retry?.length ?? 0);
  }

  /** Lines dropped because the buffer was full; reading resets the count. */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }

  /**
   * Queues one line (without its newline). Returns false when the buffer is full and the line was dropped;
   * `force` queues it anyway (the store's own, rare, error records).
   */
  append(line: string, force = false): boolean {
    const bytes = Buffer.byteLength(line) + 1;
    if (!force && this.bufferedBytes + bytes > this.#maxBufferBytes) {
      this.#dropped++;
      return false;
    }
    this.#lines.push(line, '\n');
    this.#lineBytes += bytes;
    return true;
  }

  /** Writes everything queued so far. Rejects with the fs error when the disk refuses; the data stays queued. */
  flush(): Promise<void> {
    if (this.#writing) return this.#writing.then(() => this.flush());
    if (this.#retry === null && this.#lines.length === 0) return Promise.resolve();
    const run = this.#write().finally(() => {
      this.#writing = null;
    });
    this.#writing = run;
    return run;
  }

  async #write(): Promise<void> {
    if (this.#retry === null) {
      this.#retry = Buffer.from(this.#lines.join(''));
      this.#lines = [];
      this.#lineBytes = 0;
    } else if (this.#lines.length > 0) {
      // Keep one chunk: the failed bytes first, then what arrived since, still in one write.
      this.#retry = Buffer.concat([this.#retry, Buffer.from(this.#lines.join(''))]);
      this.#lines = [];
      this.#lineBytes = 0;
    }
    const chunk = this.#retry;
    let written = 0;
    while (written < chunk.length) {
      // A short write leaves a partial line on disk; the loop (or the next flush) rewrites from #size.
      const { bytesWritten } = await this.#handle.write(chunk, written, chunk.length - written, this.#size + written);
      if (bytesWritten <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
      written += bytesWritten;
    }
    this.#size += chunk.length;
    this.#retry = null;
  }

  /** Flushes and closes; rejects if the last flush failed (the caller reports what was lost). */
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

/** Length of the file up to and including its last newline (0 when it has none). */
async function lastNewlineEnd(handle: StoreFileHandle, size: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (at >= 0) return start + at + 1;
    end = start;
  }
  return 0;
}
