import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { BodyCapture } from '../../../server/core/body-capture.js';
import { MemoryBlobSink } from '../../../server/events/blob-sink.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('BodyCapture', () => {
  it('keeps at most the cap and counts every byte', async () => {
    const capture = new BodyCapture(10);
    capture.push(Buffer.from('hello '));
    capture.push(Buffer.from('world, and more'));
    expect(capture.wireSize).toBe(21);
    expect(capture.truncated).toBe(true);
    const blobs = new MemoryBlobSink();
    const body = await capture.finish(blobs, undefined, 'text/plain');
    expect(body!.ref).toMatchObject({ size: 10, wireSize: 21, truncated: true, decoded: false, encoding: null, mimeType: 'text/plain' });
    expect((await blobs.get(body!.ref.sha256))!.toString()).toBe('hello worl');
  });

  it('returns null for an empty body', async () => {
    expect(await new BodyCapture(10).finish(new MemoryBlobSink(), undefined, null)).toBeNull();
  });

  it.each([
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['deflate', zlib.deflateRawSync],
    ['br', zlib.brotliCompressSync],
  ] as const)('decodes %s for display', async (coding, compress) => {
    const text = Buffer.from('{"a":"' + 'x'.repeat(5000) + '"}');
    const capture = new BodyCapture(1024 * 1024);
    capture.push(compress(text));
    const body = await capture.finish(new MemoryBlobSink(), coding, 'application/json');
    expect(body!.ref).toMatchObject({ decoded: true, encoding: coding, size: text.length, truncated: false, sha256: sha(text) });
  });

  it('decodes a truncated gzip capture as far as it goes, bounded by the cap', async () => {
    const text = Buffer.from('abcdefgh'.repeat(100_000));
    const gz = zlib.gzipSync(text);
    const capture = new BodyCapture(1000);
    capture.push(gz);
    const body = await capture.finish(new MemoryBlobSink(), 'gzip', 'text/plain');
    expect(body!.ref.decoded).toBe(true);
    expect(body!.ref.truncated).toBe(true);
    expect(body!.data.length).toBeLessThanOrEqual(1000);
    expect(text.subarray(0, body!.data.length).equals(body!.data)).toBe(true);
  });

  it('stores undecodable bodies as they came', async () => {
    const capture = new BodyCapture(100);
    capture.push(Buffer.from('not gzip at all'));
    const body = await capture.finish(new MemoryBlobSink(), 'gzip', null);
    expect(body!.ref).toMatchObject({ decoded: false, encoding: 'gzip', size: 15 });
  });
});
