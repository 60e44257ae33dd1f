import { describe, expect, it } from 'vitest';
import { type Direction, TlsTranscript } from '../../../server/tls/transcript.js';
import { SESSION_FIXTURES, type SessionFixture, prng, session, sideBytes, splitRecords } from './fixtures.js';

/** Feeds a captured session; `clientIs` picks which direction the client's bytes are (client leg: 'in'). */
function replay(name: SessionFixture, opts: { budgetBytes?: number; handshakeCapBytes?: number; clientIs?: Direction; chunking?: 'as-captured' | 'bytes' | number } = {}): TlsTranscript {
  const t = new TlsTranscript({ budgetBytes: opts.budgetBytes ?? 1 << 20, handshakeCapBytes: opts.handshakeCapBytes });
  const clientIs = opts.clientIs ?? 'in';
  const serverIs: Direction = clientIs === 'in' ? 'out' : 'in';
  const random = typeof opts.chunking === 'number' ? prng(opts.chunking) : null;
  session(name).forEach((chunk, i) => {
    const dir = chunk.from === 'client' ? clientIs : serverIs;
    if (opts.chunking === 'bytes') {
      for (let k = 0; k < chunk.bytes.length; k++) t.feed(dir, chunk.bytes.subarray(k, k + 1), i);
    } else if (random) {
      for (let k = 0; k < chunk.bytes.length; ) {
        const n = 1 + Math.floor(random() * 700);
        t.feed(dir, chunk.bytes.subarray(k, k + n), i);
        k += n;
      }
    } else {
      t.feed(dir, chunk.bytes, i);
    }
  });
  return t;
}

const ladder = (t: TlsTranscript): string[] => t.steps.map((s) => `${s.direction} ${s.label}`);

const EXPECTED: Record<SessionFixture, string[]> = {
  tls12: [
    'in ClientHello', 'out ServerHello', 'out Certificate', 'out ServerKeyExchange', 'out ServerHelloDone',
    'in ClientKeyExchange', 'in ChangeCipherSpec', 'in Finished', 'out ChangeCipherSpec', 'out Finished',
    'in Application data', 'out Application data', 'out Alert (encrypted)', 'in Alert (encrypted)',
  ],
  tls13: [
    'in ClientHello', 'out ServerHello', 'out ChangeCipherSpec', 'out Encrypted handshake', 'out Encrypted handshake',
    'out Encrypted handshake', 'out Encrypted handshake', 'in ChangeCipherSpec', 'in Finished', 'out Application data',
    'in Application data',
  ],
  'tls12-alert': ['in ClientHello', 'out ServerHello', 'out Certificate', 'out ServerKeyExchange', 'out ServerHelloDone', 'in Alert: unknown_ca'],
  'tls13-alert': [
    'in ClientHello', 'out ServerHello', 'out ChangeCipherSpec', 'out Encrypted handshake', 'out Encrypted handshake',
    'out Encrypted handshake', 'out Encrypted handshake', 'in Alert: unknown_ca',
  ],
  'tls13-hrr': [
    'in ClientHello', 'out HelloRetryRequest', 'out ChangeCipherSpec', 'in ChangeCipherSpec', 'in ClientHello',
    'out ServerHello', 'out Encrypted handshake', 'out Encrypted handshake', 'out Encrypted handshake',
    'out Encrypted handshake', 'in Finished', 'in Application data', 'out Application data',
  ],
  'chromium-tls13-alert': [
    'in ClientHello', 'out ServerHello', 'out ChangeCipherSpec', 'out Encrypted handshake', 'out Encrypted handshake',
    'out Encrypted handshake', 'out Encrypted handshake',
  ],
};

describe('TlsTranscript on captured sessions', () => {
  for (const name of SESSION_FIXTURES) {
    it(`${name}: the ladder`, () => {
      expect(ladder(replay(name))).toEqual(EXPECTED[name]);
    });

    it(`${name}: the same result however the bytes are chunked`, () => {
      const base = replay(name);
      const strip = (t: TlsTranscript): unknown => ({
        steps: t.steps.map(({ direction, label, length }) => ({ direction, label, length })),
        alerts: t.alerts,
        done: t.handshakeDone,
        app: [t.appRecords, t.appBytes],
        raw: [t.rawIn().toString('hex'), t.rawOut().toString('hex')],
        hello: t.clientHello,
        serverHello: t.serverHello,
      });
      expect(strip(replay(name, { chunking: 'bytes' }))).toEqual(strip(base));
      for (const seed of [1, 2, 3]) expect(strip(replay(name, { chunking: seed }))).toEqual(strip(base));
    });

    it(`${name}: keeps every byte of both directions within the budget`, () => {
      const t = replay(name);
      expect(t.rawIn().equals(sideBytes(name, 'client'))).toBe(true);
      expect(t.rawOut().equals(sideBytes(name, 'server'))).toBe(true);
      expect(t.truncated).toBe(false);
    });

    it(`${name}: on the upstream leg (client bytes going out) the ladder mirrors`, () => {
      const flipped = ladder(replay(name, { clientIs: 'out' })).map((s) => s.replace(/^(in|out) /, (_, d: string) => (d === 'in' ? 'out ' : 'in ')));
      expect(flipped).toEqual(EXPECTED[name]);
    });
  }

  it('TLS 1.2: hellos decoded, handshake done, application data counted after it', () => {
    const t = replay('tls12');
    expect(t.clientHello?.serverName).toBe('mitmlab.test');
    expect(t.clientHello?.recordVersion).toBe(0x0301);
    expect(t.clientHelloMessage?.[0]).toBe(1);
    expect(t.serverHello?.cipherSuite).toBe(0xc02f);
    expect(t.negotiatedVersion).toBe(0x0303);
    expect(t.handshakeDone).toBe(true);
    const app = [...splitRecords(sideBytes('tls12', 'client')), ...splitRecords(sideBytes('tls12', 'server'))].filter((r) => r.type === 23);
    expect(t.appRecords).toBe(app.length);
    expect(t.appBytes).toBe(app.reduce((n, r) => n + r.fragment.length, 0));
    expect(t.alerts).toEqual([]);
  });

  it('TLS 1.3: records before the client Finished are handshake, the rest application data', () => {
    const t = replay('tls13');
    expect(t.negotiatedVersion).toBe(0x0304);
    expect(t.handshakeDone).toBe(true);
    const server = splitRecords(sideBytes('tls13', 'server')).filter((r) => r.type === 23).slice(4); // EE, Cert, CV, Fin
    const client = splitRecords(sideBytes('tls13', 'client')).filter((r) => r.type === 23).slice(1); // Finished
    expect(t.appRecords).toBe(server.length + client.length);
    expect(t.appBytes).toBe([...server, ...client].reduce((n, r) => n + r.fragment.length, 0));
  });

  it('HelloRetryRequest: first ClientHello kept, final ServerHello replaces the HRR', () => {
    const t = replay('tls13-hrr');
    expect(t.serverHello?.helloRetryRequest).toBe(false);
    expect(t.serverHello?.keyShareGroup).toBe(24);
    expect(t.clientHello?.keyShares.map((k) => k.group)).toEqual([29]);
    expect(t.handshakeDone).toBe(true);
  });

  it('decodes the alerts that drive failure classification', () => {
    for (const name of ['tls12-alert', 'tls13-alert'] as const) {
      const t = replay(name);
      expect(t.alerts).toEqual([{ direction: 'in', level: 'fatal', description: 48, name: 'unknown_ca' }]);
      expect(t.handshakeDone).toBe(false);
    }
    // Chromium refusing the certificate in TLS 1.3 sends no alert at all: it just closes.
    const chromium = replay('chromium-tls13-alert');
    expect(chromium.alerts).toEqual([]);
    expect(chromium.handshakeDone).toBe(false);
    expect(chromium.clientHello?.encryptedClientHello).toBe(true);
  });

  it('labels a 19-byte first encrypted client record in TLS 1.3 as an encrypted alert', () => {
    const t = new TlsTranscript({ budgetBytes: 1 << 20 });
    for (const chunk of session('tls13').filter((c) => c.from === 'server').slice(0, 1)) t.feed('out', chunk.bytes, 1);
    t.feed('in', splitRecords(sideBytes('tls13', 'client'))[0]!.raw, 0);
    const before = t.steps.length;
    t.feed('in', Buffer.concat([Buffer.from([23, 3, 3, 0, 19]), Buffer.alloc(19, 0x5c)]), 2);
    expect(t.steps.slice(before).map((s) => s.label)).toEqual(['Alert (encrypted)']);
    expect(t.handshakeDone).toBe(false);
  });
});

describe('TlsTranscript bounds', () => {
  it('keeps the handshake phase past a zero budget, then stops at a record boundary and says so', () => {
    const t = replay('tls12', { budgetBytes: 0 });
    expect(t.truncated).toBe(true);
    const client = sideBytes('tls12', 'client');
    const kept = t.rawIn();
    expect(client.subarray(0, kept.length).equals(kept)).toBe(true);
    const boundaries = splitRecords(client).reduce<number[]>((acc, r) => [...acc, (acc.at(-1) ?? 0) + r.raw.length], [0]);
    expect(boundaries).toContain(kept.length);
    // Everything up to and including the first application data record each way is there.
    const firstApp = splitRecords(client).findIndex((r) => r.type === 23);
    expect(kept.length).toBe(boundaries[firstApp + 1]);
    // Counting goes on regardless.
    expect(t.appRecords).toBe(2);
  });

  it('with no room at all keeps nothing, and is still a correct ladder', () => {
    const t = replay('tls13', { budgetBytes: 0, handshakeCapBytes: 0 });
    expect(t.rawIn().length + t.rawOut().length).toBe(0);
    expect(t.truncated).toBe(true);
    expect(ladder(t)).toEqual(EXPECTED.tls13);
  });

  it('after the handshake only walks record headers: no growth in steps or kept bytes over 20 MB', () => {
    const t = replay('tls13', { budgetBytes: 8192 });
    const steps = t.steps.length;
    const kept = t.rawIn().length + t.rawOut().length;
    const record = Buffer.concat([Buffer.from([23, 3, 3, 0x40, 0x11]), Buffer.alloc(0x4011, 0xee)]);
    const burst = Buffer.concat(Array.from({ length: 64 }, () => record));
    for (let i = 0; i < 20; i++) {
      // Chunk boundaries fall inside headers and bodies alike.
      t.feed('out', burst.subarray(0, 1000 + i), 100);
      t.feed('out', burst.subarray(1000 + i), 100);
    }
    expect(t.steps.length).toBe(steps);
    expect(t.rawIn().length + t.rawOut().length).toBe(kept);
    expect(t.truncated).toBe(true);
    expect(t.appRecords).toBe(replay('tls13').appRecords + 20 * 64);
  });

  it('a non-TLS stream is marked once and kept within the budget, never thrown on', () => {
    const t = new TlsTranscript({ budgetBytes: 10 });
    t.feed('in', Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), 0);
    t.feed('in', Buffer.from('more'), 1);
    expect(ladder(t)).toEqual(['in Not TLS']);
    expect(t.rawIn().toString()).toBe('GET / HTTP');
    expect(t.truncated).toBe(true);
    const big = new TlsTranscript({ budgetBytes: 100 });
    big.feed('out', Buffer.from([23, 3, 3, 0xff, 0xff]), 0);
    expect(ladder(big)).toEqual(['out Invalid record (too long)']);
  });

  it('caps the ladder and the alert list', () => {
    const t = new TlsTranscript({ budgetBytes: 1 << 20, maxSteps: 5 });
    for (let i = 0; i < 500; i++) t.feed('in', Buffer.from([21, 3, 3, 0, 2, 1, 0]), i);
    expect(t.steps).toHaveLength(5);
    expect(t.alerts).toHaveLength(64);
    expect(t.alerts[0]).toEqual({ direction: 'in', level: 'warning', description: 0, name: 'close_notify' });
  });
});

describe('arrival order of the kept records', () => {
  it.each(SESSION_FIXTURES)('%s: the runs follow the records as captured, whatever the chunking', (name) => {
    // What the capture says: each chunk's whole records, in order, as runs (+ in, - out).
    const expected: number[] = [];
    for (const chunk of session(name)) {
      const sign = chunk.from === 'client' ? 1 : -1;
      const records = splitRecords(chunk.bytes).length;
      const last = expected.length - 1;
      if (last >= 0 && Math.sign(expected[last]!) === sign) expected[last]! += sign * records;
      else expected.push(sign * records);
    }
    for (const chunking of ['as-captured', 'bytes', 7] as const) expect(replay(name, { chunking }).order, String(chunking)).toEqual(expected);
  });

  it('is empty once a direction stops framing as TLS (its bytes are no records)', () => {
    const t = new TlsTranscript({ budgetBytes: 1 << 20 });
    t.feed('in', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0);
    expect(t.order).toEqual([]);
  });
});
