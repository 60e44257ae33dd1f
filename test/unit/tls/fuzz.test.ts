// Seeded fuzzing of the parsers with mutations and truncations of real handshakes: whatever the bytes, each parser
// returns one of the four outcomes, with sane numbers, and never throws. Seeds are fixed so failures reproduce.

import { describe, expect, it } from 'vitest';
import { parseClientHello } from '../../../server/tls/client-hello.js';
import { parseAlert, parseCertificate, parseServerKeyExchange, readHandshakeMessage } from '../../../server/tls/handshake-messages.js';
import type { Parsed } from '../../../server/tls/parsed.js';
import { readClientHelloFlight, readRecord } from '../../../server/tls/records.js';
import { fingerprints } from '../../../server/tls/fingerprint.js';
import { parseServerHello } from '../../../server/tls/server-hello.js';
import { TlsTranscript } from '../../../server/tls/transcript.js';
import { HELLO_FIXTURES, SESSION_FIXTURES, handshakeMessages, helloBytes, prng, reframe, session, sideBytes } from './fixtures.js';

type Random = () => number;

function int(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** One to four random edits: bit flips, extreme bytes, length fields, truncation, insertion, deletion, duplication. */
function mutate(input: Buffer, random: Random): Buffer {
  let buf = Buffer.from(input);
  const edits = 1 + int(random, 4);
  for (let e = 0; e < edits && buf.length > 0; e++) {
    const at = int(random, buf.length);
    switch (int(random, 8)) {
      case 0:
        buf[at] = buf[at]! ^ (1 << int(random, 8));
        break;
      case 1:
        buf[at] = [0, 0xff, 0x7f, 0x80, 1][int(random, 5)]!;
        break;
      case 2:
        if (at + 1 < buf.length) buf.writeUInt16BE([0, 0xffff, int(random, 0x10000), (buf.readUInt16BE(at) + 1) & 0xffff, (buf.readUInt16BE(at) - 1) & 0xffff][int(random, 5)]!, at);
        break;
      case 3:
        buf = buf.subarray(0, at);
        break;
      case 4:
        buf = Buffer.concat([buf.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(random, 8) }, () => int(random, 256))), buf.subarray(at)]);
        break;
      case 5:
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + int(random, 16))]);
        break;
      case 6:
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at, at + int(random, 32)), buf.subarray(at)]);
        break;
      default:
        buf = buf.subarray(int(random, Math.min(8, buf.length)));
    }
  }
  return buf;
}

function checkOutcome<T>(r: Parsed<T>, input: Buffer): void {
  switch (r.kind) {
    case 'ok':
      if (!(r.length > 0 && r.length <= input.length)) throw new Error(`bad ok length ${r.length} for ${input.length}`);
      return;
    case 'incomplete':
      if (!(Number.isInteger(r.need) && r.need >= 1)) throw new Error(`bad need ${r.need}`);
      return;
    case 'not-tls':
      return;
    case 'invalid':
      if (!(typeof r.reason === 'string' && Number.isInteger(r.offset) && r.offset >= 0 && r.offset <= input.length)) {
        throw new Error(`bad invalid ${JSON.stringify(r)} for ${input.length}`);
      }
      // The parsers' last-resort catch must never be what answered: that would be a bug hidden as an outcome.
      if (r.reason.startsWith('internal')) throw new Error(`internal error reached: ${r.reason}`);
      return;
    default:
      throw new Error(`unknown outcome ${JSON.stringify(r)}`);
  }
}

describe('fuzz', () => {
  it('ClientHello parsers: 100k mutations of the real hellos', () => {
    const random = prng(0x6d69746d);
    const seeds = HELLO_FIXTURES.map(helloBytes);
    // Multi-record framings of the same hellos, so reassembly is fuzzed too.
    for (const bytes of seeds.slice(0, 3)) seeds.push(reframe(bytes.subarray(5), 97));
    const kinds = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      const input = mutate(seeds[i % seeds.length]!, random);
      let r: Parsed<unknown>;
      try {
        r = readClientHelloFlight(input);
        checkOutcome(r, input);
        const direct = parseClientHello(input.subarray(5));
        checkOutcome(direct, input.subarray(5));
        // Fingerprinting what parsed must not throw either (hashing is the slow part: sample it).
        if (direct.kind === 'ok' && i % 8 === 0) fingerprints(direct.value);
      } catch (error) {
        throw new Error(`iteration ${i}, input ${input.toString('hex')}: ${(error as Error).message}`);
      }
      kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
    }
    // The mutations reach every outcome (a fuzzer that only ever saw one would prove little).
    expect([...kinds.keys()].sort()).toEqual(['incomplete', 'invalid', 'not-tls', 'ok']);
  });

  it('ServerHello, handshake messages, records and alerts: 30k mutations', () => {
    const random = prng(42);
    const messages = [...handshakeMessages(sideBytes('tls12', 'server')), ...handshakeMessages(sideBytes('tls13', 'server'))];
    const records = [sideBytes('tls12', 'server'), sideBytes('tls13', 'client')];
    for (let i = 0; i < 30_000; i++) {
      const msg = mutate(messages[i % messages.length]!, random);
      checkOutcome(parseServerHello(msg), msg);
      checkOutcome(parseCertificate(msg), msg);
      checkOutcome(parseServerKeyExchange(msg), msg);
      checkOutcome(parseServerKeyExchange(msg, { kind: 'dhe' }), msg);
      checkOutcome(readHandshakeMessage(msg), msg);
      checkOutcome(parseAlert(msg.subarray(0, 2)), msg.subarray(0, 2));
      const rec = mutate(records[i % records.length]!, random);
      checkOutcome(readRecord(rec), rec);
    }
  });

  it('TlsTranscript: 3k mutated sessions in random chunks never throw and stay bounded', () => {
    const random = prng(7);
    for (let i = 0; i < 3_000; i++) {
      const name = SESSION_FIXTURES[i % SESSION_FIXTURES.length]!;
      const t = new TlsTranscript({ budgetBytes: int(random, 4096), handshakeCapBytes: int(random, 8192), maxSteps: 64 });
      for (const chunk of session(name)) {
        const bytes = random() < 0.3 ? mutate(chunk.bytes, random) : chunk.bytes;
        for (let k = 0; k < bytes.length; ) {
          const n = 1 + int(random, 600);
          t.feed(chunk.from === 'client' ? 'in' : 'out', bytes.subarray(k, k + n), k);
          k += n;
        }
      }
      expect(t.steps.length).toBeLessThanOrEqual(64);
      expect(t.steps.filter((step) => step.label.startsWith('Internal error'))).toEqual([]);
      expect(t.rawIn().length + t.rawOut().length).toBeLessThanOrEqual(8192);
    }
  });
});
