import { execFileSync } from 'node:child_process';
import { getCiphers } from 'node:tls';
import { CIPHER_SUITES, EXTENSIONS, SIGNATURE_ALGORITHMS, SUPPORTED_GROUPS } from 'read-tls-client-hello';
import { describe, expect, it } from 'vitest';
import {
  alertName,
  cipherSuiteByOpenSslName,
  cipherSuiteName,
  extensionName,
  groupName,
  handshakeTypeName,
  isGrease,
  signatureSchemeName,
  versionName,
} from '../../../server/tls/iana.js';
import { requireTools } from '../../helpers/tools.js';

describe('IANA names', () => {
  it('names the values mitmlab shows most', () => {
    expect(cipherSuiteName(0x1301)).toBe('TLS_AES_128_GCM_SHA256');
    expect(cipherSuiteName(0x1303)).toBe('TLS_CHACHA20_POLY1305_SHA256');
    expect(cipherSuiteName(0xc02f)).toBe('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    expect(cipherSuiteName(0xcca9)).toBe('TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256');
    expect(cipherSuiteName(0x009f)).toBe('TLS_DHE_RSA_WITH_AES_256_GCM_SHA384');
    expect(cipherSuiteName(0x002f)).toBe('TLS_RSA_WITH_AES_128_CBC_SHA');
    expect(cipherSuiteName(0x00ff)).toBe('TLS_EMPTY_RENEGOTIATION_INFO_SCSV');
    expect(cipherSuiteName(0x5600)).toBe('TLS_FALLBACK_SCSV');
    expect(cipherSuiteName(0x1a1a)).toBe('GREASE (0x1a1a)');
    expect(cipherSuiteName(0xfeee)).toBe('unknown (0xfeee)');
    expect(groupName(0x11ec)).toBe('X25519MLKEM768');
    expect(groupName(0x11eb)).toBe('SecP256r1MLKEM768');
    expect(groupName(29)).toBe('x25519');
    expect(groupName(23)).toBe('secp256r1');
    expect(groupName(0x0100)).toBe('ffdhe2048');
    expect(groupName(0x0104)).toBe('ffdhe8192');
    expect(groupName(0x1234)).toBe('unknown (0x1234)');
    expect(signatureSchemeName(0x0804)).toBe('rsa_pss_rsae_sha256');
    expect(signatureSchemeName(0x0403)).toBe('ecdsa_secp256r1_sha256');
    expect(signatureSchemeName(0x0807)).toBe('ed25519');
    expect(extensionName(0)).toBe('server_name');
    expect(extensionName(0xfe0d)).toBe('encrypted_client_hello');
    expect(extensionName(17513)).toBe('application_settings');
    expect(extensionName(17613)).toBe('application_settings');
    expect(extensionName(0xeaea)).toBe('GREASE (0xeaea)');
    expect(alertName(48)).toBe('unknown_ca');
    expect(alertName(42)).toBe('bad_certificate');
    expect(alertName(0)).toBe('close_notify');
    expect(alertName(200)).toBe('unknown (200)');
    expect(handshakeTypeName(11)).toBe('Certificate');
  });

  it("spells versions the way Node's getProtocol() does", () => {
    expect(versionName(0x0304)).toBe('TLSv1.3');
    expect(versionName(0x0303)).toBe('TLSv1.2');
    expect(versionName(0x0301)).toBe('TLSv1');
    expect(versionName(0x0300)).toBe('SSLv3');
    expect(versionName(0x7f1c)).toBe('TLSv1.3-draft28');
    expect(versionName(0x4a4a)).toBe('GREASE (0x4a4a)');
    expect(versionName(0x0305)).toBe('unknown (0x0305)');
  });

  it('recognises exactly the 16 RFC 8701 GREASE values', () => {
    const grease: number[] = [];
    for (let n = 0; n <= 0xffff; n++) if (isGrease(n)) grease.push(n);
    expect(grease).toEqual([0x0a0a, 0x1a1a, 0x2a2a, 0x3a3a, 0x4a4a, 0x5a5a, 0x6a6a, 0x7a7a, 0x8a8a, 0x9a9a, 0xaaaa, 0xbaba, 0xcaca, 0xdada, 0xeaea, 0xfafa]);
  });

  it('agrees with the read-tls-client-hello tables wherever both name a value', () => {
    const check = (table: Record<number, string>, name: (n: number) => string, min: number): void => {
      let compared = 0;
      for (const [code, theirs] of Object.entries(table)) {
        const ours = name(Number(code));
        if (ours.startsWith('unknown')) continue;
        expect(ours, `0x${Number(code).toString(16)}`).toBe(theirs);
        compared++;
      }
      expect(compared).toBeGreaterThanOrEqual(min);
    };
    check(CIPHER_SUITES as Record<number, string>, cipherSuiteName, 340);
    check(SUPPORTED_GROUPS as Record<number, string>, groupName, 50);
    check(SIGNATURE_ALGORITHMS as Record<number, string>, signatureSchemeName, 40);
    check(EXTENSIONS as Record<number, string>, extensionName, 60);
  });

  it.skipIf(!requireTools('tshark'))('agrees with Wireshark’s cipher-suite names', () => {
    const values = execFileSync('tshark', ['-G', 'values'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
    let compared = 0;
    for (const line of values.split('\n')) {
      const [kind, field, code, name] = line.split('\t');
      if (kind !== 'V' || field !== 'tls.handshake.ciphersuite' || name === undefined) continue;
      const ours = cipherSuiteName(Number(code));
      if (ours.startsWith('unknown') || ours.startsWith('GREASE')) continue;
      expect(ours, `0x${Number(code).toString(16)}`).toBe(name);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(340);
  });
});

describe('cipherSuiteByOpenSslName', () => {
  it('maps every cipher Node offers (OpenSSL names, lowercased by tls.getCiphers)', () => {
    const ciphers = getCiphers();
    expect(ciphers.length).toBeGreaterThan(30);
    for (const name of ciphers) expect(cipherSuiteByOpenSslName(name), name).toBeTypeOf('number');
    expect(cipherSuiteByOpenSslName('ECDHE-RSA-AES128-GCM-SHA256')).toBe(0xc02f);
    expect(cipherSuiteByOpenSslName('TLS_AES_256_GCM_SHA384')).toBe(0x1302);
    expect(cipherSuiteByOpenSslName('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256')).toBe(0xc02f);
    expect(cipherSuiteByOpenSslName('DES-CBC3-SHA')).toBe(0x000a);
    expect(cipherSuiteByOpenSslName('NOT-A-CIPHER')).toBeUndefined();
  });

  it.skipIf(!requireTools('openssl'))('matches `openssl ciphers -V -stdname` code for code', () => {
    const out = execFileSync('openssl', ['ciphers', '-V', '-stdname', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'], { encoding: 'utf8' });
    let compared = 0;
    for (const line of out.split('\n')) {
      const m = /^\s*0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)\s+- (\S+)/.exec(line);
      if (!m) continue;
      const code = (parseInt(m[1]!, 16) << 8) | parseInt(m[2]!, 16);
      expect(cipherSuiteByOpenSslName(m[4]!), m[4]).toBe(code);
      expect(cipherSuiteName(code)).toBe(m[3]);
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
  });
});
