// A bounded copy of a body as it streams through: the proxy forwards every byte, this keeps at most `cap` of them
// (DESIGN.md §3, "everything is bounded"). Decoding for display happens after the body ends, off the hot path.

import zlib from 'node:zlib';
import type { BlobSink } from '../events/blob-sink.js';
import type { BodyRef } from '../protocol/events.js';

export class BodyCapture {
  readonly #cap: number;
  readonly #chunks: Buffer[] = [];
  #captured = 0;
  /** Bytes seen on the wire, captured or not. */
  wireSize = 0;

  constructor(cap: number) {
    this.#cap = cap;
  }

  /** Records a chunk. Holds references (no copy) to at most `cap` bytes. */
  push(chunk: Buffer): void {
    this.wireSize += chunk.length;
    const room = this.#cap - this.#captured;
    if (room <= 0) return;
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.#chunks.push(kept);
    this.#captured += kept.length;
  }

  get truncated(): boolean {
    return this.wireSize > this.#captured;
  }

  /** The captured bytes as one buffer. */
  bytes(): Buffer {
    return this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#captured);
  }

  /**
   * Stores the capture and describes it. Content-coded bodies (RFC 9110 §8.4) are decoded for display, up to the
   * same cap. A body captured whole must decode whole: one that fails (cut short, damaged, bytes after the end of
   * the coded stream) is stored as it came, with the decoder's reason, never as a plausible partial text. A capture
   * cut at the cap, or a body whose message was cut short (`complete` false: the record says so), is decoded as far
   * as it goes.
   */
  async finish(blobs: BlobSink, contentEncoding: string | undefined, mimeType: string | null, complete = true, part: BodyPart = 'whole'): Promise<CapturedBody | null> {
    if (this.wireSize === 0) return null;
    const raw = this.bytes();
    const named = contentEncoding?.trim().toLowerCase() || null;
    // "identity" is no coding at all (RFC 9110 §8.4.1).
    const declared = named === 'identity' ? null : named;
    const encoding = normalizeEncoding(declared);
    let stored = raw;
    let decoded = false;
    let truncated = this.truncated;
    let decodeError: string | null = null;
    if (encoding && part === 'range') {
      // RFC 9110 §8.4 and §14: Content-Encoding describes the whole representation, and a 206 carries a slice of the
      // coded bytes; without the start of the stream the decoder has nothing to begin from.
      decodeError = `a partial response (206) holds a slice of the ${encoding} data, which cannot be decoded on its own`;
    } else if (encoding) {
      // A range from byte 0 decodes as far as it goes, like a body cut short.
      const result = await decodeBounded(raw, encoding, this.#cap, complete && !this.truncated && part === 'whole');
      if ('error' in result) decodeError = result.error;
      else {
        stored = result.data;
        decoded = true;
        truncated = truncated || result.truncated;
      }
    }
    const ref: BodyRef = {
      sha256: blobs.put(stored),
      size: stored.length,
      wireSize: this.wireSize,
      truncated,
      encoding: encoding ?? declared,
      decoded,
      ...(decodeError !== null ? { decodeError } : {}),
      mimeType,
    };
    return { ref, data: stored };
  }
}

/** What a body is of its representation: all of it, a 206 range from its first byte, or a range from elsewhere. */
export type BodyPart = 'whole' | 'range-from-start' | 'range';

/** The part a response body is (RFC 9110 §14.4: Content-Range "bytes FIRST-LAST/LENGTH"), from its status and header. */
export function bodyPart(status: number, contentRange: string | undefined): BodyPart {
  if (status !== 206) return 'whole';
  return /^\s*bytes\s+0-\d+\/(\d+|\*)\s*$/i.test(contentRange ?? '') ? 'range-from-start' : 'range';
}

/** A stored capture: its reference for events and the (decoded, bounded) bytes for in-process inspection. */
export interface CapturedBody {
  ref: BodyRef;
  data: Buffer;
}

type Coding = 'gzip' | 'deflate' | 'br';

function normalizeEncoding(coding: string | null): Coding | null {
  if (!coding) return null;
  if (coding === 'gzip' || coding === 'x-gzip') return 'gzip';
  if (coding === 'deflate') return 'deflate';
  if (coding === 'br') return 'br';
  return null; // identity, zstd, or stacked codings: shown as they came.
}

function decoder(coding: Coding, raw: Buffer, whole: boolean): zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress {
  // A capture cut at the cap still decodes up to where it stops: flush what is there instead of failing at the end.
  // A whole one must reach the end of its coded stream, or the decoder reports what is wrong.
  const flush = whole ? {} : { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (coding === 'gzip') return zlib.createGunzip(flush);
  if (coding === 'br') return zlib.createBrotliDecompress(whole ? {} : { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
  // "deflate" is meant to be zlib-wrapped (RFC 9110 §8.4.1.2) but some servers send raw deflate; the zlib header's
  // first byte tells them apart (RFC 1950 §2.2: CM = 8 in the low nibble).
  return (raw[0]! & 0x0f) === 8 ? zlib.createInflate(flush) : zlib.createInflateRaw(flush);
}

type Decoded = { data: Buffer; truncated: boolean } | { error: string };

/**
 * Decodes asynchronously (zlib runs in the thread pool), keeping at most `cap` decoded bytes. `whole`: the capture
 * holds the entire body, so any decoding error is the body's; otherwise what decoded before an error is kept.
 */
function decodeBounded(raw: Buffer, coding: Coding, cap: number, whole: boolean): Promise<Decoded> {
  return new Promise((resolve) => {
    const stream = decoder(coding, raw, whole);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: Decoded): void => {
      if (done) return;
      done = true;
      stream.destroy();
      resolve(value);
    };
    stream.on('data', (chunk: Buffer) => {
      const room = cap - size;
      chunks.push(chunk.length <= room ? chunk : chunk.subarray(0, room));
      size += Math.min(chunk.length, room);
      if (size >= cap) finish({ data: Buffer.concat(chunks, size), truncated: true });
    });
    stream.on('end', () => {
      // Gunzip refuses bytes after its last member itself; inflate and brotli stop at the end of their stream and
      // ignore the rest, which for a whole body means it is damaged. bytesWritten counts the input they consumed.
      const extra = raw.length - stream.bytesWritten;
      if (whole && extra > 0) return finish({ error: `${extra} byte(s) after the end of the ${coding} stream` });
      finish({ data: Buffer.concat(chunks, size), truncated: false });
    });
    // Not whole: what decoded before the stream broke off is kept (the capture's own `truncated` says if it was the cap).
    stream.on('error', (error: Error) => finish(!whole && size > 0 ? { data: Buffer.concat(chunks, size), truncated: false } : { error: error.message }));
    stream.end(raw);
  });
}
