import { describe, expect, it } from 'vitest';
import { parseClientHello } from '../../../server/tls/client-hello.js';
import { MAX_CLIENT_HELLO_LENGTH, readClientHelloFlight, readRecord } from '../../../server/tls/records.js';
import { HELLO_FIXTURES, helloBytes, reframe, splitRecords } from './fixtures.js';

describe('readRecord', () => {
  it('frames a record and reports its offset and total length', () => {
    const buf = Buffer.concat([Buffer.from('xx'), Buffer.from([23, 3, 3, 0, 3, 1, 2, 3, 99])]);
    const r = readRecord(buf, 2);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.length).toBe(8);
    expect(r.value).toMatchObject({ contentType: 23, version: 0x0303, offset: 2 });
    expect([...r.value.fragment]).toEqual([1, 2, 3]);
  });

  it('asks for exactly the missing bytes', () => {
    expect(readRecord(Buffer.alloc(0))).toEqual({ kind: 'incomplete', need: 5 });
    expect(readRecord(Buffer.from([22, 3]))).toEqual({ kind: 'incomplete', need: 3 });
    expect(readRecord(Buffer.from([22, 3, 1, 0, 10, 1, 2]))).toEqual({ kind: 'incomplete', need: 8 });
  });

  it('rejects what is not a record', () => {
    expect(readRecord(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'not-tls' });
    expect(readRecord(Buffer.from([22, 2, 0]))).toEqual({ kind: 'not-tls' });
    expect(readRecord(Buffer.from([25]))).toEqual({ kind: 'not-tls' });
    const huge = readRecord(Buffer.from([23, 3, 3, 0xff, 0xff]));
    expect(huge).toMatchObject({ kind: 'invalid', reason: 'record-overflow' });
    expect(readRecord(Buffer.from([23, 3, 3]), 7)).toMatchObject({ kind: 'invalid' });
  });
});

describe('readClientHelloFlight on real hellos', () => {
  for (const name of HELLO_FIXTURES) {
    it(`${name}: parses, consumes every record, returns the message`, () => {
      const bytes = helloBytes(name);
      const r = readClientHelloFlight(bytes);
      expect(r.kind).toBe('ok');
      if (r.kind !== 'ok') return;
      expect(r.value.consumed).toBe(bytes.length);
      expect(r.length).toBe(bytes.length);
      const fragments = Buffer.concat(splitRecords(bytes).map((rec) => rec.fragment));
      expect(r.value.message.equals(fragments)).toBe(true);
      expect(r.value.hello.recordVersion).toBe(bytes.readUInt16BE(1));
      // Trailing bytes after the hello (e.g. early data) are not consumed.
      const more = readClientHelloFlight(Buffer.concat([bytes, Buffer.from([23, 3, 3, 0, 1, 0])]));
      expect(more.kind === 'ok' && more.value.consumed).toBe(bytes.length);
    });

    it(`${name}: every strict prefix is incomplete with a sensible need`, () => {
      const bytes = helloBytes(name);
      for (let n = 0; n < bytes.length; n++) {
        const r = readClientHelloFlight(bytes.subarray(0, n));
        expect(r.kind, `prefix ${n}`).toBe('incomplete');
        if (r.kind !== 'incomplete') return;
        expect(r.need).toBeGreaterThanOrEqual(1);
        // A lower bound that never overshoots…
        expect(n + r.need, `prefix ${n}`).toBeLessThanOrEqual(bytes.length);
        // …and is exact once the (single) record's header is known.
        if (n >= 5) expect(n + r.need, `prefix ${n}`).toBe(bytes.length);
      }
    });
  }

  it('reassembles a ClientHello split across two records (and across many)', () => {
    const single = readClientHelloFlight(helloBytes('chromium'));
    if (single.kind !== 'ok') throw new Error('fixture must parse');
    const message = single.value.message;
    for (const size of [Math.ceil(message.length / 2), 512, 100, 7, 1]) {
      const framed = reframe(message, size);
      const r = readClientHelloFlight(framed);
      expect(r.kind, `records of ${size}`).toBe('ok');
      if (r.kind !== 'ok') continue;
      expect(r.value.consumed).toBe(framed.length);
      expect(r.value.message.equals(message)).toBe(true);
      expect(r.value.hello).toEqual(single.value.hello);
    }
  });

  it('a two-record hello: every prefix is incomplete, the need counts the second record header', () => {
    const message = (readClientHelloFlight(helloBytes('node')) as { value: { message: Buffer } }).value.message;
    const half = Math.ceil(message.length / 2);
    const framed = reframe(message, half);
    const firstRecordEnd = 5 + half;
    for (let n = 0; n < framed.length; n++) {
      const r = readClientHelloFlight(framed.subarray(0, n));
      expect(r.kind).toBe('incomplete');
      if (r.kind !== 'incomplete') return;
      expect(n + r.need).toBeLessThanOrEqual(framed.length);
      if (n >= firstRecordEnd + 5) expect(n + r.need).toBe(framed.length);
      // Inside the first record, once the hello's length is known, the second header's 5 bytes are counted too.
      if (n >= 9 && n < firstRecordEnd) expect(n + r.need).toBe(framed.length);
    }
  });

  it('says not-tls for other protocols, and invalid for TLS records that are not a hello', () => {
    for (const text of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'SSH-2.0-OpenSSH_9.2\r\n', 'PRI * HTTP/2.0\r\n', 'G']) {
      expect(readClientHelloFlight(Buffer.from(text)), text).toEqual({ kind: 'not-tls' });
    }
    expect(readClientHelloFlight(Buffer.from([23, 3, 3, 0, 1, 0]))).toEqual({ kind: 'invalid', reason: 'unexpected-record-before-hello', offset: 0 });
    expect(readClientHelloFlight(Buffer.from([21, 3, 3, 0, 2, 2, 40]))).toEqual({ kind: 'invalid', reason: 'unexpected-record-before-hello', offset: 0 });
    expect(readClientHelloFlight(Buffer.from([21]))).toMatchObject({ kind: 'incomplete' });
    expect(readClientHelloFlight(Buffer.from([22, 0x47]))).toEqual({ kind: 'not-tls' });
    expect(readClientHelloFlight(Buffer.alloc(0))).toMatchObject({ kind: 'incomplete' });
  });

  it('recognises an SSLv2-compatible CLIENT-HELLO (RFC 5246 Appendix E.2)', () => {
    // msg_length with the high bit set, msg_type 1, version 3.1, cipher_spec_length 3, session_id 0, challenge 16
    const v2 = Buffer.from('802e0103010003000000100100800000000102030405060708090a0b0c0d0e0f00000000000000000000000000', 'hex');
    expect(readClientHelloFlight(v2)).toEqual({ kind: 'invalid', reason: 'sslv2-hello', offset: 0 });
    expect(readClientHelloFlight(v2.subarray(0, 2))).toEqual({ kind: 'incomplete', need: 1 });
    expect(readClientHelloFlight(Buffer.from([0x80, 0x10, 0x05]))).toEqual({ kind: 'not-tls' });
  });

  it('refuses other handshake messages, interleaved records, empty fragments and oversized hellos', () => {
    const serverHello = Buffer.from([22, 3, 3, 0, 4, 2, 0, 0, 0]);
    expect(readClientHelloFlight(serverHello)).toMatchObject({ kind: 'invalid', reason: 'not-client-hello' });
    const message = (readClientHelloFlight(helloBytes('curl-tls13')) as { value: { message: Buffer } }).value.message;
    const two = reframe(message, 100);
    const interleaved = Buffer.concat([two.subarray(0, 105), Buffer.from([21, 3, 3, 0, 2, 2, 40]), two.subarray(105)]);
    expect(readClientHelloFlight(interleaved)).toMatchObject({ kind: 'invalid', reason: 'unexpected-record-before-hello', offset: 105 });
    expect(readClientHelloFlight(Buffer.from([22, 3, 1, 0, 0]))).toMatchObject({ kind: 'invalid', reason: 'empty-handshake-record' });
    const tooBig = Buffer.from([22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x00]);
    expect(MAX_CLIENT_HELLO_LENGTH).toBeLessThan(0x10004);
    expect(readClientHelloFlight(tooBig)).toMatchObject({ kind: 'invalid', reason: 'hello-too-large' });
  });

  it('maps a decode error inside the hello back to the input offset', () => {
    const bytes = Buffer.from(helloBytes('openssl-sni'));
    // legacy_session_id length byte (5 record + 4 handshake + 2 version + 32 random) set to 33 (> 32, RFC 8446 §4.1.2)
    bytes[43] = 33;
    const r = readClientHelloFlight(bytes);
    expect(r).toMatchObject({ kind: 'invalid', offset: 43 });
    const direct = parseClientHello(bytes.subarray(5));
    expect(direct).toMatchObject({ kind: 'invalid', offset: 38 });
  });
});
