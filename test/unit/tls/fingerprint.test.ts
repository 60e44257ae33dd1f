import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { calculateJa3, calculateJa4, readTlsClientHello } from 'read-tls-client-hello';
import { describe, expect, it } from 'vitest';
import type { ClientHello, HelloExtension } from '../../../server/protocol/tls.js';
import { fingerprints, ja3String } from '../../../server/tls/fingerprint.js';
import { readClientHelloFlight } from '../../../server/tls/records.js';
import { requireTools } from '../../helpers/tools.js';
import { HELLO_FIXTURES, type HelloFixture, helloBytes } from './fixtures.js';

function helloOf(name: HelloFixture): ClientHello {
  const r = readClientHelloFlight(helloBytes(name));
  if (r.kind !== 'ok') throw new Error(name);
  return r.value.hello;
}

/** A hello with just the fields the fingerprints read. */
function synthetic(parts: { version?: number; ciphers: number[]; extensions: number[]; groups?: number[]; formats?: number[]; sigAlgs?: number[]; alpn?: string[]; versions?: number[] }): ClientHello {
  const ext = (type: number): HelloExtension => ({ type, name: '', grease: false, span: { offset: 0, length: 4 } });
  return {
    recordVersion: 0x0301,
    legacyVersion: parts.version ?? 0x0303,
    random: '',
    sessionId: '',
    cipherSuites: parts.ciphers,
    compressionMethods: [0],
    extensions: parts.extensions.map(ext),
    serverName: parts.extensions.includes(0) ? 'example.com' : null,
    alpn: parts.alpn ?? [],
    supportedGroups: parts.groups ?? [],
    ecPointFormats: parts.formats ?? [],
    signatureAlgorithms: parts.sigAlgs ?? [],
    supportedVersions: parts.versions ?? [],
    keyShares: [],
    pskKeyExchangeModes: [],
    preSharedKey: false,
    statusRequest: false,
    signedCertificateTimestamp: false,
    extendedMasterSecret: false,
    sessionTicket: false,
    renegotiationInfo: false,
    encryptedClientHello: false,
    compressCertificate: [],
    recordSizeLimit: null,
    applicationSettings: [],
    paddingLength: null,
    fields: {},
  };
}

describe('JA3 (salesforce/ja3 README vectors)', () => {
  it('builds the README example string and hash', () => {
    const hello = synthetic({ version: 769, ciphers: [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4], extensions: [0, 10, 11], groups: [23, 24, 25], formats: [0] });
    const fp = fingerprints(hello);
    expect(fp.ja3).toBe('769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0');
    expect(fp.ja3Hash).toBe('ada70206e40642a3e4461f35503241d5');
  });

  it('keeps the commas when there are no extensions, and drops GREASE', () => {
    expect(ja3String(synthetic({ version: 769, ciphers: [4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99], extensions: [] }))).toBe('769,4-5-10-9-100-98-3-6-19-18-99,,,');
    expect(ja3String(synthetic({ ciphers: [0x0a0a, 4865], extensions: [0x1a1a, 0, 10], groups: [0x2a2a, 29] }))).toBe('771,4865,0-10,29,');
  });
});

describe('JA4 (FoxIO JA4.md worked example)', () => {
  const example = synthetic({
    ciphers: [0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
    extensions: [0x3a3a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015],
    sigAlgs: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
    alpn: ['h2', 'http/1.1'],
    versions: [0x5a5a, 0x0304, 0x0303],
  });

  it('reproduces JA4 and JA4_r', () => {
    const fp = fingerprints(example);
    expect(fp.ja4).toBe('t13d1516h2_8daaf6152771_e5627efa2ab1');
    expect(fp.ja4r).toBe(
      't13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601',
    );
  });

  it('hashes the extension list alone when there are no signature algorithms', () => {
    const fp = fingerprints({ ...example, signatureAlgorithms: [] });
    expect(fp.ja4.split('_')[2]).toBe('6d807ffa2a79');
  });

  it('encodes version, SNI, counts and ALPN in part a', () => {
    const a = (h: ClientHello): string => fingerprints(h).ja4.split('_')[0]!;
    expect(a({ ...example, alpn: ['http/1.1'] })).toBe('t13d1516h1');
    expect(a({ ...example, alpn: [] })).toBe('t13d151600');
    expect(a({ ...example, alpn: ['h'] })).toBe('t13d1516hh');
    // Non-alphanumeric ends: first and last hex digits of the value instead.
    expect(a({ ...example, alpn: ['\xab'] })).toBe('t13d1516ab');
    expect(a({ ...example, alpn: ['0\xab\xcd1'] })).toBe('t13d151601');
    expect(a(synthetic({ version: 0x0301, ciphers: [0x2f], extensions: [] }))).toBe('t10i010000');
    expect(a(synthetic({ version: 0x0303, ciphers: Array.from({ length: 120 }, (_, i) => i + 1), extensions: [0] }))).toBe('t12d990100');
    expect(fingerprints(synthetic({ ciphers: [], extensions: [] })).ja4).toBe('t12i000000_000000000000_000000000000');
  });
});

describe('cross-checked against read-tls-client-hello on real hellos', () => {
  for (const name of HELLO_FIXTURES) {
    it(`${name}: same JA3 and JA4`, async () => {
      // A stream that stays open, like the socket the package expects (it unshifts the bytes back afterwards).
      const stream = new PassThrough();
      stream.write(helloBytes(name));
      const theirs = await readTlsClientHello(stream);
      stream.destroy();
      const ours = fingerprints(helloOf(name));
      expect(ours.ja3Hash).toBe(calculateJa3(theirs));
      expect(createHash('md5').update(ours.ja3).digest('hex')).toBe(ours.ja3Hash);
      expect(ours.ja4).toBe(calculateJa4(theirs));
      expect(ours.ja4r.split('_')[0]).toBe(ours.ja4.split('_')[0]);
    });
  }

  it('Chromium: GREASE is gone from JA3 and JA4, X25519MLKEM768 (4588) stays', () => {
    const fp = fingerprints(helloOf('chromium'));
    expect(fp.ja3.split(',')[3]!.split('-')[0]).toBe('4588');
    expect(fp.ja4).toMatch(/^t13d15\d\dh2_8daaf6152771_[0-9a-f]{12}$/);
    expect(fp.ja4r).not.toMatch(/(^|[,_])([0-9a-f])a\2a/);
    // Chrome shuffles its extension order per connection (Chrome 110+), JA4 sorts, so the two Chromium hellos share c…
    // …once SNI (which only the named one has) is left out, as JA4 does.
    expect(fp.ja4.split('_')[2]).toBe(fingerprints(helloOf('chromium-ip')).ja4.split('_')[2]);
  });
});

/** Wraps payload bytes in a one-packet pcap (LINKTYPE_RAW IPv4/TCP to port 443), so tshark dissects them as TLS. */
function pcapOf(payload: Buffer): Buffer {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(262144, 16);
  global.writeUInt32LE(101, 20); // LINKTYPE_RAW
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(40 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from([127, 0, 0, 1]).copy(ip, 12);
  Buffer.from([127, 0, 0, 1]).copy(ip, 16);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(50000, 0);
  tcp.writeUInt16BE(443, 2);
  tcp.writeUInt32BE(1, 4);
  tcp[12] = 0x50;
  tcp[13] = 0x18; // PSH, ACK
  tcp.writeUInt16BE(65535, 14);
  const record = Buffer.alloc(16);
  record.writeUInt32LE(40 + payload.length, 8);
  record.writeUInt32LE(40 + payload.length, 12);
  return Buffer.concat([global, record, ip, tcp, payload]);
}

describe('cross-checked against tshark’s dissector', () => {
  it.skipIf(!requireTools('tshark'))('same cipher suites, extension types and JA3 for every real hello', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mitmlab-tshark-'));
    try {
      for (const name of HELLO_FIXTURES) {
        const file = join(dir, `${name}.pcap`);
        writeFileSync(file, pcapOf(helloBytes(name)));
        const out = execFileSync(
          'tshark',
          ['-r', file, '-T', 'fields', '-E', 'separator=/t', '-e', 'tls.handshake.ciphersuite', '-e', 'tls.handshake.extension.type', '-e', 'tls.handshake.ja3_full', '-e', 'tls.handshake.ja3'],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
        );
        const [suites, types, ja3Full, ja3] = out.trim().split('\t');
        const hello = helloOf(name);
        const fp = fingerprints(hello);
        expect(suites!.split(',').map(Number), name).toEqual(hello.cipherSuites);
        expect(types!.split(',').map(Number), name).toEqual(hello.extensions.map((e) => e.type));
        expect(ja3Full, name).toBe(fp.ja3);
        expect(ja3, name).toBe(fp.ja3Hash);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
