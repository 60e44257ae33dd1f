// TLS client fingerprints from a decoded ClientHello.
//   JA3 (https://github.com/salesforce/ja3): "SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats"
//     in decimal, values dash-joined in wire order, GREASE (RFC 8701) removed; the hash is its MD5.
//   JA4 and JA4_r (https://github.com/FoxIO-LLC/ja4/blob/main/technical_details/JA4.md): see ja4Parts below.
// Server-side only (node:crypto for the hashes).

import { createHash } from 'node:crypto';
import type { ClientHello, Fingerprints } from '../protocol/tls.js';
import { Ext } from './extensions.js';
import { isGrease } from './iana.js';

/** JA3 string and MD5, JA4 and JA4_r of a ClientHello (TCP: JA4 starts with `t`). */
export function fingerprints(hello: ClientHello): Fingerprints {
  const ja3 = ja3String(hello);
  const { a, ciphers, extensions, sigAlgs } = ja4Parts(hello);
  const cipherList = ciphers.join(',');
  const extensionList = sigAlgs.length > 0 ? `${extensions.join(',')}_${sigAlgs.join(',')}` : extensions.join(',');
  // JA4 §Cipher hash / §Extension hash: an empty list hashes to twelve zeros rather than sha256("").
  const b = ciphers.length > 0 ? sha256_12(cipherList) : '000000000000';
  const c = extensions.length > 0 ? sha256_12(extensionList) : '000000000000';
  return {
    ja3,
    ja3Hash: createHash('md5').update(ja3).digest('hex'),
    ja4: `${a}_${b}_${c}`,
    ja4r: `${a}_${cipherList}_${extensionList}`,
  };
}

/** The JA3 string (before hashing). */
export function ja3String(hello: ClientHello): string {
  const noGrease = (list: number[]): string => list.filter((n) => !isGrease(n)).join('-');
  return [
    hello.legacyVersion,
    noGrease(hello.cipherSuites),
    noGrease(hello.extensions.map((e) => e.type)),
    noGrease(hello.supportedGroups),
    hello.ecPointFormats.join('-'),
  ].join(',');
}

function sha256_12(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** JA4 §TLS version: highest non-GREASE supported_versions entry if present, else the hello's legacy_version. */
const JA4_VERSIONS: ReadonlyMap<number, string> = new Map([
  [0x0304, '13'],
  [0x0303, '12'],
  [0x0302, '11'],
  [0x0301, '10'],
  [0x0300, 's3'],
  [0x0002, 's2'],
  [0x0100, 's1'],
]);

/**
 * The pieces of JA4: part a (t, version, d/i, cipher count, extension count, ALPN chars), ciphers sorted as 4-hex,
 * extensions sorted as 4-hex without SNI (0000) and ALPN (0010), signature algorithms in wire order. GREASE is
 * ignored everywhere; counts include SNI and ALPN and are capped at 99.
 */
function ja4Parts(hello: ClientHello): { a: string; ciphers: string[]; extensions: string[]; sigAlgs: string[] } {
  const ciphers = hello.cipherSuites.filter((n) => !isGrease(n));
  const extTypes = hello.extensions.map((e) => e.type).filter((n) => !isGrease(n));
  const versions = hello.supportedVersions.filter((n) => !isGrease(n));
  const hasSupportedVersions = hello.extensions.some((e) => e.type === Ext.supportedVersions);
  const version = hasSupportedVersions && versions.length > 0 ? Math.max(...versions) : hello.legacyVersion;
  const sni = hello.extensions.some((e) => e.type === Ext.serverName) ? 'd' : 'i';
  const count = (n: number): string => String(Math.min(n, 99)).padStart(2, '0');
  const a = `t${JA4_VERSIONS.get(version) ?? '00'}${sni}${count(ciphers.length)}${count(extTypes.length)}${alpnChars(hello.alpn[0])}`;
  return {
    a,
    ciphers: ciphers.map(hex4).sort(),
    extensions: extTypes
      .filter((n) => n !== Ext.serverName && n !== Ext.alpn)
      .map(hex4)
      .sort(),
    sigAlgs: hello.signatureAlgorithms.filter((n) => !isGrease(n)).map(hex4),
  };
}

function isAlnum(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/**
 * JA4 §ALPN: first and last characters of the first ALPN value ("h2", "http/1.1" → "h1"), "00" without ALPN.
 * When either end is not alphanumeric, the first and last characters of the value's hex form are used instead.
 * (`alpn` strings are latin1, one char per wire byte.)
 */
function alpnChars(first: string | undefined): string {
  if (first === undefined || first.length === 0) return '00';
  const head = first.charCodeAt(0);
  const tail = first.charCodeAt(first.length - 1);
  if (isAlnum(head) && isAlnum(tail)) return `${first[0]}${first[first.length - 1]}`;
  const hex = Buffer.from(first, 'latin1').toString('hex');
  return `${hex[0]}${hex[hex.length - 1]}`;
}
