import { describe, expect, it } from 'vitest';
import { leafKeyTypeFor } from '../../../server/certs/key-choice.js';
import type { ClientHello } from '../../../server/protocol/tls.js';
import { readClientHelloFlight } from '../../../server/tls/records.js';
import { type HelloFixture, HELLO_FIXTURES, helloBytes } from '../tls/fixtures.js';

function hello(name: HelloFixture): ClientHello {
  const r = readClientHelloFlight(helloBytes(name));
  if (r.kind !== 'ok') throw new Error(`${name}: ${JSON.stringify(r)}`);
  return r.value.hello;
}

const TLS13 = { tls13: true };

describe('leafKeyTypeFor', () => {
  it('gives every captured client (Chromium, curl with TLS 1.2 and 1.3, OpenSSL, Node) the EC key', () => {
    for (const name of HELLO_FIXTURES) expect(leafKeyTypeFor(hello(name), TLS13), name).toBe('ec');
  });

  const tls12 = hello('curl-tls12');
  const rsaSuitesOnly = tls12.cipherSuites.filter((suite) => ![0xc009, 0xc00a, 0xc023, 0xc024, 0xc02b, 0xc02c, 0xcca9].includes(suite));

  it('gives RSA to a client without ecdsa_secp256r1_sha256 among its signature algorithms', () => {
    const chromium = hello('chromium');
    expect(leafKeyTypeFor({ ...chromium, signatureAlgorithms: chromium.signatureAlgorithms.filter((s) => s !== 0x0403) }, TLS13)).toBe('rsa');
    expect(leafKeyTypeFor({ ...tls12, signatureAlgorithms: [] }, TLS13)).toBe('rsa');
  });

  it('gives RSA to a TLS 1.2-only client offering no ECDHE_ECDSA suite, or not P-256', () => {
    expect(rsaSuitesOnly.length).toBeLessThan(tls12.cipherSuites.length);
    expect(leafKeyTypeFor({ ...tls12, cipherSuites: rsaSuitesOnly }, TLS13)).toBe('rsa');
    expect(leafKeyTypeFor({ ...tls12, supportedGroups: [29, 24] }, TLS13)).toBe('rsa');
    // No supported_groups extension at all: any curve will do (RFC 8422 §4).
    expect(leafKeyTypeFor({ ...tls12, supportedGroups: [] }, TLS13)).toBe('ec');
  });

  it('does not look at cipher suites when both sides can do TLS 1.3: they name no key type there', () => {
    const curl13 = hello('curl-tls13');
    expect(leafKeyTypeFor({ ...curl13, cipherSuites: [0x1301, 0x1302, 0x1303] }, TLS13)).toBe('ec');
  });

  it('applies the TLS 1.2 rule to a TLS 1.3 client when mitmlab itself stops at TLS 1.2 (--tls-max-v1.2)', () => {
    const curl13 = hello('curl-tls13');
    expect(leafKeyTypeFor(curl13, { tls13: false })).toBe('ec');
    expect(leafKeyTypeFor({ ...curl13, cipherSuites: curl13.cipherSuites.filter((s) => s < 0xc000 || s === 0xc02f || s === 0xc030) }, { tls13: false })).toBe('rsa');
  });
});
