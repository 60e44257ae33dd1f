import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { BodyCapture, bodyPart } from '../../../server/core/body-capture.js';
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

  // Regression (fixed): a whole body that was cut short or damaged was decoded as far as it went and recorded as a
  // clean, complete text; gzip followed by stray bytes was recorded as truncated "at the cap".
  it.each([
    ['a gzip body cut in half', (gz: Buffer) => gz.subarray(0, gz.length >> 1), /unexpected end of file/],
    ['a gzip body with stray bytes after it', (gz: Buffer) => Buffer.concat([gz, Buffer.from('GARBAGE')]), /./],
    ['a gzip body with a damaged byte near its end', (gz: Buffer) => Buffer.concat([gz.subarray(0, gz.length - 6), Buffer.from([gz[gz.length - 6]! ^ 0xff]), gz.subarray(gz.length - 5)]), /./],
  ])('%s, captured whole, is stored as it came with the decoder\'s reason', async (_name, damage, reason) => {
    const text = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join(''));
    const sent = damage(zlib.gzipSync(text));
    const capture = new BodyCapture(1024 * 1024);
    capture.push(sent);
    const body = await capture.finish(new MemoryBlobSink(), 'gzip', 'text/plain');
    expect(body!.ref).toMatchObject({ decoded: false, truncated: false, encoding: 'gzip', size: sent.length, sha256: sha(sent) });
    expect(body!.ref.decodeError).toMatch(reason);
  });

  // Regression (fixed): inflate and brotli stop at the end of their stream and ignore what follows, so a deflate or
  // br body with stray bytes after it was recorded as cleanly decoded.
  it.each([
    ['deflate', zlib.deflateSync],
    ['deflate', zlib.deflateRawSync],
    ['br', zlib.brotliCompressSync],
  ] as const)('a %s body with stray bytes after it, captured whole, is stored as it came', async (coding, encode) => {
    const sent = Buffer.concat([encode(Buffer.from('hello world '.repeat(100))), Buffer.from('JUNKJUNK')]);
    const capture = new BodyCapture(1024 * 1024);
    capture.push(sent);
    const body = await capture.finish(new MemoryBlobSink(), coding, 'text/plain');
    expect(body!.ref).toMatchObject({ decoded: false, truncated: false, encoding: coding, size: sent.length });
    expect(body!.ref.decodeError).toBe(`8 byte(s) after the end of the ${coding} stream`);
  });

  it('a deflate body cut at the cap still decodes as far as it goes', async () => {
    const text = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join(''));
    const capture = new BodyCapture(2000);
    capture.push(zlib.deflateSync(text));
    const body = await capture.finish(new MemoryBlobSink(), 'deflate', 'text/plain');
    expect(body!.ref).toMatchObject({ decoded: true, truncated: true });
    expect(text.subarray(0, body!.data.length).equals(body!.data)).toBe(true);
  });

  it('a 206 of gzip data: a slice from the middle is not decoded and says why; one from byte 0 decodes as far as it goes', async () => {
    const text = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join(''));
    const gz = zlib.gzipSync(text);
    const middle = new BodyCapture(1024 * 1024);
    middle.push(gz.subarray(1000, 3000));
    const sliced = await middle.finish(new MemoryBlobSink(), 'gzip', 'text/plain', true, bodyPart(206, `bytes 1000-2999/${gz.length}`));
    expect(sliced!.ref).toMatchObject({ decoded: false, encoding: 'gzip', size: 2000 });
    expect(sliced!.ref.decodeError).toBe('a partial response (206) holds a slice of the gzip data, which cannot be decoded on its own');
    const start = new BodyCapture(1024 * 1024);
    start.push(gz.subarray(0, 3000));
    const first = await start.finish(new MemoryBlobSink(), 'gzip', 'text/plain', true, bodyPart(206, `bytes 0-2999/${gz.length}`));
    expect(first!.ref).toMatchObject({ decoded: true });
    expect(first!.ref.decodeError).toBeUndefined();
    expect(text.subarray(0, first!.data.length).equals(first!.data)).toBe(true);
  });

  it.each([
    [200, 'bytes 5-9/10', 'whole'],
    [206, 'bytes 0-9/10', 'range-from-start'],
    [206, 'BYTES 0-9/*', 'range-from-start'],
    [206, 'bytes 5-9/10', 'range'],
    [206, undefined, 'range'], // multipart/byteranges carries its ranges inside
  ] as const)('bodyPart(%i, %j) is %s', (status, header, part) => {
    expect(bodyPart(status, header)).toBe(part);
  });

  it('a gzip body whose message was cut short (the origin broke off) is decoded as far as it goes', async () => {
    const text = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join(''));
    const gz = zlib.gzipSync(text);
    const capture = new BodyCapture(1024 * 1024);
    capture.push(gz.subarray(0, gz.length >> 1));
    const body = await capture.finish(new MemoryBlobSink(), 'gzip', 'text/plain', false);
    expect(body!.ref).toMatchObject({ decoded: true, truncated: false });
    expect(body!.data.length).toBeGreaterThan(0);
    expect(text.subarray(0, body!.data.length).equals(body!.data)).toBe(true);
  });

  it('a brotli body cut short, captured whole, is not passed off as decoded', async () => {
    const sent = zlib.brotliCompressSync(Buffer.from('x'.repeat(50_000) + 'y'.repeat(50_000))).subarray(0, 10);
    const capture = new BodyCapture(1024 * 1024);
    capture.push(sent);
    const body = await capture.finish(new MemoryBlobSink(), 'br', 'text/plain');
    expect(body!.ref).toMatchObject({ decoded: false, truncated: false });
    expect(body!.ref.decodeError).toBeTruthy();
  });

  it('"identity" is no coding, and two codings are named together (stored as they came)', async () => {
    const identity = new BodyCapture(100);
    identity.push(Buffer.from('plain text'));
    expect((await identity.finish(new MemoryBlobSink(), 'identity', 'text/plain'))!.ref).toMatchObject({ encoding: null, decoded: false });
    const stacked = new BodyCapture(100);
    stacked.push(zlib.brotliCompressSync(zlib.gzipSync(Buffer.from('twice'))));
    expect((await stacked.finish(new MemoryBlobSink(), 'gzip, br', 'text/plain'))!.ref).toMatchObject({ encoding: 'gzip, br', decoded: false });
  });

  it('stores undecodable bodies as they came', async () => {
    const capture = new BodyCapture(100);
    capture.push(Buffer.from('not gzip at all'));
    const body = await capture.finish(new MemoryBlobSink(), 'gzip', null);
    expect(body!.ref).toMatchObject({ decoded: false, encoding: 'gzip', size: 15 });
  });
});
