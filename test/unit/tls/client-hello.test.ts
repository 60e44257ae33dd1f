import { describe, expect, it } from 'vitest';
import type { ClientHello } from '../../../server/protocol/tls.js';
import { parseClientHello } from '../../../server/tls/client-hello.js';
import { readClientHelloFlight } from '../../../server/tls/records.js';
import { type HelloFixture, HELLO_FIXTURES, helloBytes } from './fixtures.js';

function flight(name: HelloFixture): { hello: ClientHello; message: Buffer } {
  const r = readClientHelloFlight(helloBytes(name));
  if (r.kind !== 'ok') throw new Error(`${name}: ${JSON.stringify(r)}`);
  return r.value;
}

const GREASE = (n: number): boolean => (n & 0x0f0f) === 0x0a0a && n >> 8 === (n & 0xff);

describe('parseClientHello: field-level facts of real hellos', () => {
  it('curl limited to TLS 1.2: no supported_versions, no key_share, SNI and ALPN', () => {
    const { hello } = flight('curl-tls12');
    expect(hello.legacyVersion).toBe(0x0303);
    expect(hello.serverName).toBe('mitmlab.test');
    expect(hello.alpn).toEqual(['h2', 'http/1.1']);
    expect(hello.supportedVersions).toEqual([]);
    expect(hello.keyShares).toEqual([]);
    expect(hello.cipherSuites).not.toContain(0x1301);
    expect(hello.cipherSuites).toContain(0xc02f); // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    expect(hello.cipherSuites.at(-1)).toBe(0x00ff); // TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746)
    expect(hello.extendedMasterSecret).toBe(true);
    expect(hello.supportedGroups).toEqual([29, 23, 30, 25, 24]);
    expect(hello.ecPointFormats).toEqual([0, 1, 2]);
  });

  it('curl with TLS 1.3: versions 1.3 down to 1.0, x25519 share, padding to 512 bytes', () => {
    const { hello, message } = flight('curl-tls13');
    expect(hello.supportedVersions).toEqual([0x0304, 0x0303, 0x0302, 0x0301]);
    expect(hello.keyShares).toEqual([{ group: 29, keyLength: 32 }]);
    expect(hello.cipherSuites.slice(0, 3).sort()).toEqual([0x1301, 0x1302, 0x1303]);
    expect(hello.pskKeyExchangeModes).toEqual([1]);
    // OpenSSL pads the hello to 512 bytes (RFC 7685), working around old F5 bugs.
    expect(message.length).toBe(512);
    expect(hello.paddingLength).toBeGreaterThan(0);
    expect(hello.supportedGroups).toEqual(expect.arrayContaining([0x0100, 0x0104])); // ffdhe2048, ffdhe8192
  });

  it('openssl s_client: SNI present or not; ALPN only when asked', () => {
    expect(flight('openssl-sni').hello.serverName).toBe('mitmlab.test');
    expect(flight('openssl-sni').hello.alpn).toEqual([]);
    const nosni = flight('openssl-nosni').hello;
    expect(nosni.serverName).toBeNull();
    expect(nosni.extensions.map((e) => e.type)).not.toContain(0);
    expect(flight('openssl-alpn').hello.alpn).toEqual(['h2', 'http/1.1']);
    expect(flight('openssl-sni').hello.sessionTicket).toBe(true);
    expect(flight('openssl-sni').hello.cipherSuites).toHaveLength(31);
  });

  it('Node tls.connect: its long default cipher list, TLS 1.3 and 1.2 only', () => {
    const { hello } = flight('node');
    expect(hello.supportedVersions).toEqual([0x0304, 0x0303]);
    expect(hello.cipherSuites.length).toBeGreaterThan(40);
    expect(hello.alpn).toEqual(['h2', 'http/1.1']);
    expect(hello.serverName).toBe('mitmlab.test');
  });

  for (const name of ['chromium', 'chromium-ip'] as const) {
    it(`${name}: GREASE, X25519MLKEM768, ECH GREASE, ALPS, brotli certificate compression`, () => {
      const { hello, message } = flight(name);
      expect(message.length).toBeGreaterThan(1500);
      expect(hello.serverName).toBe(name === 'chromium' ? 'mitmlab.test' : null);
      expect(GREASE(hello.cipherSuites[0]!)).toBe(true);
      expect(hello.cipherSuites.filter((c) => !GREASE(c))).toHaveLength(15);
      const first = hello.extensions[0]!;
      const last = hello.extensions.at(-1)!;
      expect(first.grease && last.grease).toBe(true);
      expect(first.name).toMatch(/^GREASE/);
      expect(GREASE(hello.supportedGroups[0]!)).toBe(true);
      expect(hello.supportedGroups.slice(1)).toEqual([0x11ec, 29, 23, 24]);
      // RFC 8701 GREASE share (1 byte), then ML-KEM-768 (1184) + X25519 (32) hybrid, then X25519.
      expect(hello.keyShares.map((k) => k.keyLength)).toEqual([1, 1216, 32]);
      expect(hello.keyShares[1]!.group).toBe(0x11ec);
      expect(hello.encryptedClientHello).toBe(true);
      expect(hello.applicationSettings).toEqual(['h2']);
      expect(hello.extensions.map((e) => e.type)).toContain(17613);
      expect(hello.compressCertificate).toEqual([2]);
      expect(hello.statusRequest && hello.signedCertificateTimestamp && hello.renegotiationInfo).toBe(true);
      expect(hello.alpn).toEqual(['h2', 'http/1.1']);
      expect(GREASE(hello.supportedVersions[0]!)).toBe(true);
      expect(hello.supportedVersions.slice(1)).toEqual([0x0304, 0x0303]);
    });
  }

  for (const name of HELLO_FIXTURES) {
    it(`${name}: spans point at the bytes they describe`, () => {
      const { hello, message } = flight(name);
      expect(message.readUInt16BE(hello.fields.legacyVersion!.offset)).toBe(hello.legacyVersion);
      const random = hello.fields.random!;
      expect(message.subarray(random.offset, random.offset + random.length).toString('hex')).toBe(hello.random);
      const suites = hello.fields.cipherSuites!;
      expect(message.readUInt16BE(suites.offset)).toBe(suites.length - 2);
      expect(message.readUInt16BE(suites.offset + 2)).toBe(hello.cipherSuites[0]);
      const exts = hello.fields.extensions!;
      expect(exts.offset + exts.length).toBe(message.length);
      let expected = exts.offset + 2;
      for (const ext of hello.extensions) {
        expect(ext.span.offset).toBe(expected);
        expect(message.readUInt16BE(ext.span.offset)).toBe(ext.type);
        expect(message.readUInt16BE(ext.span.offset + 2)).toBe(ext.span.length - 4);
        expected += ext.span.length;
        expect(ext.error).toBeUndefined();
      }
      expect(expected).toBe(message.length);
    });

    it(`${name}: every strict prefix of the message is incomplete`, () => {
      const { message } = flight(name);
      for (let n = 0; n < message.length; n++) {
        const r = parseClientHello(message.subarray(0, n));
        expect(r.kind).toBe('incomplete');
        if (r.kind === 'incomplete') expect(n < 4 ? r.need : n + r.need).toBe(n < 4 ? 4 - n : message.length);
      }
      expect(parseClientHello(message)).toMatchObject({ kind: 'ok', length: message.length });
    });
  }
});

/** Builds a ClientHello message from a body (legacy_version onwards). */
function message(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
}

function body(parts: { sessionId?: Buffer; suites?: number[]; compression?: number[]; extensions?: Buffer | null }): Buffer {
  const sessionId = parts.sessionId ?? Buffer.alloc(0);
  const suites = parts.suites ?? [0x1301];
  const compression = parts.compression ?? [0];
  const s = Buffer.alloc(2 + suites.length * 2);
  s.writeUInt16BE(suites.length * 2, 0);
  suites.forEach((v, i) => s.writeUInt16BE(v, 2 + i * 2));
  const out = [Buffer.from([3, 3]), Buffer.alloc(32, 7), Buffer.from([sessionId.length]), sessionId, s, Buffer.from([compression.length, ...compression])];
  if (parts.extensions !== null && parts.extensions !== undefined) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(parts.extensions.length, 0);
    out.push(len, parts.extensions);
  }
  return Buffer.concat(out);
}

function ext(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(data.length, 2);
  return Buffer.concat([head, data]);
}

describe('parseClientHello: constructed edge cases', () => {
  it('accepts a TLS 1.2 hello without an extensions block (RFC 5246 §7.4.1.2)', () => {
    const r = parseClientHello(message(body({ extensions: null })));
    expect(r.kind).toBe('ok');
    if (r.kind === 'ok') expect(r.value.extensions).toEqual([]);
  });

  it('rejects broken fixed fields with the offending offset', () => {
    expect(parseClientHello(message(body({ sessionId: Buffer.alloc(33) })))).toMatchObject({ kind: 'invalid', offset: 38 });
    const odd = message(body({}));
    odd.writeUInt16BE(3, 39); // cipher_suites length 3
    expect(parseClientHello(odd)).toMatchObject({ kind: 'invalid' });
    expect(parseClientHello(message(body({ compression: [] })))).toMatchObject({ kind: 'invalid' });
    expect(parseClientHello(message(body({ suites: [] })))).toMatchObject({ kind: 'invalid' });
    const trailing = message(Buffer.concat([body({ extensions: Buffer.alloc(0) }), Buffer.from([0])]));
    expect(parseClientHello(trailing)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('trailing') });
    const ext = message(body({ extensions: Buffer.from([0, 0, 0, 9]) })); // extension says 9 bytes, block has 0
    expect(parseClientHello(ext)).toMatchObject({ kind: 'invalid' });
    expect(parseClientHello(Buffer.from([2, 0, 0, 0]))).toMatchObject({ kind: 'invalid', reason: 'not-client-hello' });
  });

  it('keeps a malformed known extension as raw with an error, and the rest of the hello', () => {
    const exts = Buffer.concat([ext(0x10, Buffer.from([0, 5, 2, 0x68, 0x32])), ext(0, Buffer.from([0, 3, 0, 0, 9])), ext(0x2b, Buffer.from([2, 3, 4]))]);
    const r = parseClientHello(message(body({ extensions: exts })));
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.value.alpn).toEqual([]);
    expect(r.value.extensions[0]).toMatchObject({ name: 'application_layer_protocol_negotiation', raw: '0005026832', error: expect.any(String) });
    expect(r.value.extensions[1]!.error).toBeDefined();
    expect(r.value.supportedVersions).toEqual([0x0304]);
  });

  it('keeps unknown extensions as capped hex, flags duplicates, escapes hostile SNI bytes', () => {
    const sni = Buffer.from('a\nb\\c', 'latin1');
    const sniData = Buffer.concat([Buffer.from([0, sni.length + 3, 0, 0, sni.length]), sni]);
    const exts = Buffer.concat([ext(0x7777, Buffer.alloc(300, 0xab)), ext(0, sniData), ext(0, sniData), ext(28, Buffer.from([0x40, 0x01]))]);
    const r = parseClientHello(message(body({ extensions: exts })));
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.value.extensions[0]!.name).toBe('unknown (0x7777)');
    expect(r.value.extensions[0]!.raw).toHaveLength(512);
    expect(r.value.serverName).toBe('a\\x0ab\\x5cc');
    expect(r.value.extensions[2]!.error).toBe('duplicate extension');
    expect(r.value.recordSizeLimit).toBe(0x4001);
  });
});
