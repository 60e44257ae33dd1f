// Signing a TBSCertificate with node:crypto and wrapping it into a Certificate (RFC 5280 §4.1.1).
// node:crypto signs in OpenSSL (RSA-2048: ~0.3 ms); forge's pure-JS RSA takes tens of milliseconds.

import crypto, { type KeyObject } from 'node:crypto';
import { CertError } from './errors.js';
import { signatureAlgorithm, toDer } from './asn1-build.js';

/** The key algorithms mitmlab creates and signs with. */
export type KeyType = 'rsa' | 'ec';

/** The key type of a private or public key; only RSA and EC P-256 are accepted. */
export function keyTypeOf(key: KeyObject): KeyType {
  if (key.asymmetricKeyType === 'rsa') return 'rsa';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ec';
  throw new CertError('CA_KEY_CORRUPT', `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}: mitmlab uses RSA or EC P-256 keys; run \`mitmlab ca rotate\` to make a new CA`);
}

/** Signs TBS bytes on the calling thread: SHA-256 with PKCS#1 v1.5 (RSA) or DER-encoded ECDSA (RFC 5758 §3.2). */
export function signSync(tbs: Buffer, key: KeyObject): Buffer {
  return crypto.sign('sha256', tbs, key);
}

/** Signs TBS bytes on libuv's thread pool, so the event loop is never blocked by the private-key operation. */
export function signAsync(tbs: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    crypto.sign('sha256', tbs, key, (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}

/** DER AlgorithmIdentifier bytes for signatures made with `keyType` keys, computed once. */
const ALGORITHM_DER: Record<KeyType, Buffer> = {
  rsa: toDer(signatureAlgorithm('rsa')),
  ec: toDer(signatureAlgorithm('ec')),
};

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }. */
export function assembleCertificate(tbs: Buffer, keyType: KeyType, signature: Buffer): Buffer {
  const bitString = Buffer.concat([derHeader(0x03, signature.length + 1), Buffer.from([0]), signature]);
  const body = [tbs, ALGORITHM_DER[keyType], bitString];
  const length = body.reduce((sum, part) => sum + part.length, 0);
  return Buffer.concat([derHeader(0x30, length), ...body]);
}

/** PEM text of a DER certificate (RFC 7468 §5: 64-column base64). */
export function certificatePem(der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** 16 random bytes as a positive, minimal INTEGER (RFC 5280 §4.1.2.2; CA/B BR §7.1: ≥ 64 bits of CSPRNG output). */
export function randomSerial(): Buffer {
  const serial = crypto.randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // high bit clear: positive
  if (serial[0] === 0) serial[0] = 0x01; // non-zero first octet: no leading zero to strip, so DER stays minimal
  return serial;
}

function derHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
}
