import { describe, expect, it } from 'vitest';
import { HELLO_RETRY_REQUEST_RANDOM, parseServerHello } from '../../../server/tls/server-hello.js';
import { createHash } from 'node:crypto';
import { handshakeMessages, sideBytes, splitRecords } from './fixtures.js';

/** The plaintext handshake records' messages one side sent, across CCS records (for the HRR exchange). */
function plaintextHellos(name: 'tls13-hrr'): Buffer[] {
  return splitRecords(sideBytes(name, 'server'))
    .filter((r) => r.type === 22)
    .map((r) => r.fragment);
}

describe('parseServerHello', () => {
  it('TLS 1.2 ServerHello: legacy version is the version, ECDHE-RSA suite', () => {
    const sh = handshakeMessages(sideBytes('tls12', 'server'))[0]!;
    const r = parseServerHello(sh);
    expect(r).toMatchObject({ kind: 'ok', length: sh.length });
    if (r.kind !== 'ok') return;
    expect(r.value).toMatchObject({ legacyVersion: 0x0303, selectedVersion: 0x0303, cipherSuite: 0xc02f, compressionMethod: 0, helloRetryRequest: false, keyShareGroup: null, alpn: null });
    expect(r.value.extensions.map((e) => e.name)).toContain('renegotiation_info');
  });

  it('TLS 1.3 ServerHello: supported_versions selects 1.3, x25519 share', () => {
    const sh = handshakeMessages(sideBytes('tls13', 'server'))[0]!;
    const r = parseServerHello(sh);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.value).toMatchObject({ legacyVersion: 0x0303, selectedVersion: 0x0304, cipherSuite: 0x1301, keyShareGroup: 29, helloRetryRequest: false });
    expect(r.value.sessionId).toHaveLength(64); // echo of the client's 32-byte compatibility session id
    const ks = r.value.extensions.find((e) => e.type === 51)!;
    expect(sh.readUInt16BE(ks.span.offset)).toBe(51);
    // A well-formed share decodes cleanly: no error and no raw fallback on any extension.
    expect(r.value.extensions.filter((e) => e.error !== undefined || e.raw !== undefined)).toEqual([]);
  });

  it('recognises a HelloRetryRequest by its special random and reads the requested group', () => {
    expect(HELLO_RETRY_REQUEST_RANDOM).toBe(createHash('sha256').update('HelloRetryRequest').digest('hex'));
    const [hrr, sh] = plaintextHellos('tls13-hrr');
    const first = parseServerHello(hrr!);
    expect(first.kind).toBe('ok');
    if (first.kind !== 'ok') return;
    expect(first.value).toMatchObject({ helloRetryRequest: true, selectedVersion: 0x0304, keyShareGroup: 24 }); // secp384r1
    const second = parseServerHello(sh!);
    expect(second.kind === 'ok' && second.value).toMatchObject({ helloRetryRequest: false, keyShareGroup: 24 });
  });

  it('decodes the selected ALPN protocol', () => {
    const alpn = Buffer.from([0, 16, 0, 5, 0, 3, 2, 0x68, 0x32]);
    const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 1), Buffer.from([0, 0xc0, 0x2f, 0]), Buffer.from([0, alpn.length]), alpn]);
    const msg = Buffer.concat([Buffer.from([2, 0, 0, body.length]), body]);
    const r = parseServerHello(msg);
    expect(r.kind === 'ok' && r.value.alpn).toBe('h2');
    // RFC 5246 §7.4.1.3: without an extensions block the hello ends after the compression method.
    const bare = parseServerHello(Buffer.concat([Buffer.from([2, 0, 0, 38]), body.subarray(0, 38)]));
    expect(bare.kind === 'ok' && bare.value.extensions).toEqual([]);
    // RFC 7301 §3.1: the server selects exactly one protocol; two is a malformed extension (kept, flagged).
    const twoProtocols = Buffer.from([0, 16, 0, 8, 0, 6, 2, 0x68, 0x32, 2, 0x68, 0x33]);
    const body2 = Buffer.concat([body.subarray(0, 38), Buffer.from([0, twoProtocols.length]), twoProtocols]);
    const r2 = parseServerHello(Buffer.concat([Buffer.from([2, 0, 0, body2.length]), body2]));
    expect(r2.kind === 'ok' && r2.value.alpn).toBeNull();
    expect(r2.kind === 'ok' && r2.value.extensions[0]!.error).toMatch(/exactly one/);
  });

  it('every strict prefix is incomplete; wrong type and bad vectors are invalid', () => {
    for (const sh of [handshakeMessages(sideBytes('tls12', 'server'))[0]!, handshakeMessages(sideBytes('tls13', 'server'))[0]!]) {
      for (let n = 0; n < sh.length; n++) {
        const r = parseServerHello(sh.subarray(0, n));
        expect(r.kind).toBe('incomplete');
        if (r.kind === 'incomplete' && n >= 4) expect(n + r.need).toBe(sh.length);
      }
    }
    expect(parseServerHello(Buffer.from([1, 0, 0, 0]))).toMatchObject({ kind: 'invalid', reason: 'not-server-hello' });
    expect(parseServerHello(Buffer.from([2, 0, 0, 2, 3, 3]))).toMatchObject({ kind: 'invalid' });
  });
});
