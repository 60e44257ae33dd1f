// Where captured bytes go (bodies, raw TLS records). Events carry only the SHA-256 the sink returns.
// The store (server/store/) provides the disk-backed, content-addressed sink; MemoryBlobSink serves tests and --no-store.

import { createHash } from 'node:crypto';

export interface BlobSink {
  /** Stores bytes under their SHA-256 (hex) and returns it. Must not block: writes happen in the background. */
  put(data: Buffer): string;
  /** Reads stored bytes back, or null when unknown or evicted. */
  get(sha256: string): Promise<Buffer | null>;
}

/** A bounded in-memory sink: keeps at most `maxBytes`, evicting the oldest blobs first. */
export class MemoryBlobSink implements BlobSink {
  readonly #blobs = new Map<string, Buffer>();
  #bytes = 0;

  constructor(readonly maxBytes = 256 * 1024 * 1024) {}

  put(data: Buffer): string {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (this.#blobs.has(sha256)) return sha256;
    this.#blobs.set(sha256, data);
    this.#bytes += data.length;
    for (const [key, blob] of this.#blobs) {
      if (this.#bytes <= this.maxBytes) break;
      this.#blobs.delete(key);
      this.#bytes -= blob.length;
    }
    return sha256;
  }

  async get(sha256: string): Promise<Buffer | null> {
    return this.#blobs.get(sha256) ?? null;
  }
}
