// X.509 building blocks as node-forge ASN.1 nodes (RFC 5280 §4.1, §4.2). Pure: no keys, no clock, no randomness.
// forge's tree holds byte strings ("binary" strings, one char per octet); Buffers cross over as latin1.
//
// Signing is not here: forge's RSA is pure JavaScript and slow, so certificates are signed with node:crypto
// (see sign.ts) and only their structure is built with forge.

import forge from 'node-forge';

const { asn1 } = forge;
export type Node = forge.asn1.Asn1;
const U = asn1.Class.UNIVERSAL;
const C = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

/** Well-known object identifiers (RFC 5280 §4.2, RFC 3279/5758 for the algorithms). */
export const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  organizationalUnitName: '2.5.4.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
} as const;

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3). */
export const KeyUsageBit = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

export function bin(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
}

export function seq(items: Node[]): Node {
  return asn1.create(U, T.SEQUENCE, true, items);
}

export function set(items: Node[]): Node {
  return asn1.create(U, T.SET, true, items);
}

export function oid(dotted: string): Node {
  return asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
}

export function utf8(text: string): Node {
  return asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(text));
}

export function octets(bytes: Uint8Array): Node {
  return asn1.create(U, T.OCTETSTRING, false, bin(bytes));
}

/** An INTEGER from big-endian bytes the caller made minimal and positive (X.690 §8.3.2). */
export function integerBytes(bytes: Uint8Array): Node {
  return asn1.create(U, T.INTEGER, false, bin(bytes));
}

export function smallInteger(value: number): Node {
  return asn1.create(U, T.INTEGER, false, asn1.integerToDer(value).getBytes());
}

export function booleanTrue(): Node {
  return asn1.create(U, T.BOOLEAN, false, '\xff'); // DER: TRUE is 0xFF (X.690 §11.1)
}

/** A context-specific tagged element: implicit primitive (`value` bytes) or constructed (`value` nodes). */
export function tagged(n: number, value: string | Node[]): Node {
  return asn1.create(C, n, typeof value !== 'string', value);
}

/** UTCTime through 2049, GeneralizedTime from 2050, both to the second in UTC (RFC 5280 §4.1.2.5). */
export function time(date: Date): Node {
  const whole = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return whole.getUTCFullYear() < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(whole))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(whole));
}

/** A Name of RDNs, one attribute each, as UTF8String (RFC 5280 §4.1.2.6: UTF8String for new certificates). */
export function name(attributes: Array<[oid: string, value: string]>): Node {
  return seq(attributes.map(([type, value]) => set([seq([oid(type), utf8(value)])])));
}

/** An Extension (RFC 5280 §4.1): critical is omitted when false, as DER requires for DEFAULT values. */
export function extension(id: string, critical: boolean, value: Node): Node {
  const parts = [oid(id)];
  if (critical) parts.push(booleanTrue());
  parts.push(asn1.create(U, T.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return seq(parts);
}

/** BasicConstraints (§4.2.1.9): `cA` omitted when false (DEFAULT FALSE), pathLen only for a CA. */
export function basicConstraints(ca: boolean, pathLen?: number): Node {
  const parts: Node[] = [];
  if (ca) {
    parts.push(booleanTrue());
    if (pathLen !== undefined) parts.push(smallInteger(pathLen));
  }
  return seq(parts);
}

/** KeyUsage (§4.2.1.3) as a DER BIT STRING: trailing zero bits dropped and counted (X.690 §11.2.2). */
export function keyUsage(bits: number[]): Node {
  const bytes = Buffer.alloc(Math.floor(Math.max(...bits) / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  const last = bytes[bytes.length - 1]!;
  let unused = 0;
  while (unused < 7 && (last & (1 << unused)) === 0) unused++;
  return asn1.create(U, T.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
}

/** ExtendedKeyUsage (§4.2.1.12). */
export function extKeyUsage(purposes: string[]): Node {
  return seq(purposes.map(oid));
}

/** GeneralName dNSName [2] IA5String (§4.2.1.6). */
export function dnsName(value: string): Node {
  return tagged(2, value);
}

/** GeneralName iPAddress [7] OCTET STRING: 4 or 16 octets in a SAN, 8 or 32 (address + mask) in a constraint. */
export function ipAddress(bytes: Uint8Array): Node {
  return tagged(7, bin(bytes));
}

/** AuthorityKeyIdentifier (§4.2.1.1) with only keyIdentifier [0]. */
export function authorityKeyIdentifier(keyId: Uint8Array): Node {
  return seq([tagged(0, bin(keyId))]);
}

/** AlgorithmIdentifier for the signature: sha256WithRSAEncryption takes NULL parameters (RFC 4055 §5), ECDSA none (RFC 5758 §3.2). */
export function signatureAlgorithm(keyType: 'rsa' | 'ec'): Node {
  return keyType === 'rsa'
    ? seq([oid(OID.sha256WithRSAEncryption), asn1.create(U, T.NULL, false, '')])
    : seq([oid(OID.ecdsaWithSHA256)]);
}

/** Parses DER into a node to embed verbatim (bit strings left undecoded, so re-encoding gives the same bytes). */
export function fromDer(der: Uint8Array): Node {
  return (asn1.fromDer as unknown as (bytes: string, options: object) => Node)(bin(der), { strict: true, decodeBitStrings: false });
}

/** Encodes a node to DER. */
export function toDer(node: Node): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'latin1');
}

/** TBSCertificate (§4.1): version 3, then the given parts in order. */
export function tbsCertificate(parts: {
  serial: Uint8Array;
  signature: Node;
  issuer: Node;
  notBefore: Date;
  notAfter: Date;
  subject: Node;
  spki: Node;
  extensions: Node[];
}): Node {
  return seq([
    tagged(0, [smallInteger(2)]),
    integerBytes(parts.serial),
    parts.signature,
    parts.issuer,
    seq([time(parts.notBefore), time(parts.notAfter)]),
    parts.subject,
    parts.spki,
    tagged(3, [seq(parts.extensions)]),
  ]);
}
