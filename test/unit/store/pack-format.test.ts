import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodePackRecord,
  encodePackRecord,
  formatBlobListLine,
  PACK_HEADER_BYTES,
  PACK_RECORD_MAX_BYTES,
  parseBlobListLine,
  parsePackHeader,
} from '../../../server/store/pack-format.js';

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** A small deterministic PRNG (xorshift32), so a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe('pack records', () => {
  const data = Buffer.from('GET / HTTP/1.1\r\nhost: a.test\r\n\r\n');
  const record = encodePackRecord(sha(data), data);

  it('lays out magic, big-endian length, SHA-256 and data', () => {
    expect(record.subarray(0, 4).toString('latin1')).toBe('mlb1');
    expect(record.readUInt32BE(4)).toBe(data.length);
    expect(record.subarray(8, 40).toString('hex')).toBe(sha(data));
    expect(record.subarray(PACK_HEADER_BYTES)).toEqual(data);
    expect(parsePackHeader(record)).toEqual({ kind: 'ok', sha256: sha(data), size: data.length });
    expect(decodePackRecord(record, sha(data))?.data).toEqual(data);
  });

  it('decodes a record followed by other bytes, and an empty blob', () => {
    expect(decodePackRecord(Buffer.concat([record, Buffer.from('next record')]))?.data).toEqual(data);
    const empty = encodePackRecord(sha(Buffer.alloc(0)), Buffer.alloc(0));
    expect(decodePackRecord(empty)).toEqual({ sha256: sha(Buffer.alloc(0)), data: Buffer.alloc(0) });
  });

  it('never decodes a prefix of a record (a write cut short)', () => {
    for (let n = 0; n < record.length; n++) {
      const prefix = record.subarray(0, n);
      expect(decodePackRecord(prefix)).toBeNull();
      const header = parsePackHeader(prefix);
      if (n < PACK_HEADER_BYTES) expect(header).toEqual({ kind: 'incomplete', need: PACK_HEADER_BYTES - n });
      else expect(header.kind).toBe('ok');
    }
  });

  it('refuses a record whose data does not hash to its header, or that is another blob', () => {
    for (let i = PACK_HEADER_BYTES; i < record.length; i++) {
      const flipped = Buffer.from(record);
      flipped[i]! ^= 0x01;
      expect(decodePackRecord(flipped)).toBeNull();
    }
    expect(decodePackRecord(record, sha(Buffer.from('other')))).toBeNull();
    const zeroed = Buffer.alloc(record.length);
    expect(parsePackHeader(zeroed)).toMatchObject({ kind: 'invalid' });
    expect(decodePackRecord(zeroed)).toBeNull();
  });

  it('refuses a length beyond the record limit instead of trusting it', () => {
    const huge = Buffer.from(record);
    huge.writeUInt32BE(PACK_RECORD_MAX_BYTES + 1, 4);
    expect(parsePackHeader(huge)).toMatchObject({ kind: 'invalid' });
  });

  it('never throws on random bytes (seeded fuzz)', () => {
    const next = prng(0x5eed);
    for (let round = 0; round < 2000; round++) {
      const bytes = Buffer.alloc(next() % 120);
      for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
      // Half the cases start like a record, so the later checks are reached too.
      if (round % 2 === 0 && bytes.length >= 8) {
        bytes.write('mlb1', 0, 'latin1');
        bytes.writeUInt32BE(next() % 96, 4);
      }
      expect(() => parsePackHeader(bytes)).not.toThrow();
      expect(decodePackRecord(bytes)).toBeNull();
    }
  });
});

describe('blobs.txt lines', () => {
  const a = sha(Buffer.from('a'));

  it('round-trips file and pack entries', () => {
    expect(formatBlobListLine(a, 12, null)).toBe(`${a} 12`);
    expect(formatBlobListLine(a, 12, 4096)).toBe(`${a} 12 4096`);
    expect(parseBlobListLine(`${a} 12`)).toEqual({ sha256: a, size: 12, offset: null });
    expect(parseBlobListLine(`${a} 12 4096`)).toEqual({ sha256: a, size: 12, offset: 4096 });
  });

  it('rejects malformed lines', () => {
    for (const line of ['', a, `${a} `, `${a} x`, `${a} 1 -2`, `${a} 1 2 3`, `${a.toUpperCase()} 1`, `../../x 1`, `${a} 1 1e3`]) {
      expect(parseBlobListLine(line)).toBeNull();
    }
  });
});
