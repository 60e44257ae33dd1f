// The parts of a DER certificate that minting and summaries need, found with the DER reader. Pure; returns null
// for anything that is not a well-formed X.509 v3 structure (RFC 5280 §4.1).

import { childrenOf, contentOf, decodeOid, encodingOf, readTlv } from './der.js';

/** One extension as found in the certificate. */
export interface RawExtension {
  critical: boolean;
  /** Contents of extnValue: the DER of the extension's own value. */
  value: Buffer;
}

/** Raw parts of a certificate. Buffers are views into the input. */
export interface CertificateParts {
  tbs: Buffer;
  signatureAlgorithmOid: string;
  /** The issuer Name, full encoding. */
  issuer: Buffer;
  /** The subject Name, full encoding: a leaf's issuer must equal its CA's subject byte for byte (§4.1.2.4). */
  subject: Buffer;
  /** SubjectPublicKeyInfo, full encoding. */
  spki: Buffer;
  extensions: Map<string, RawExtension>;
}

/** Splits a DER certificate into its parts, or null. */
export function certificateParts(der: Buffer): CertificateParts | null {
  const cert = readTlv(der, 0);
  if (!cert || cert.tag !== 0x30 || cert.end !== der.length) return null;
  const top = childrenOf(der, cert);
  if (!top || top.length !== 3) return null;
  const [tbsTlv, algTlv] = top as [NonNullable<(typeof top)[0]>, NonNullable<(typeof top)[0]>];
  const fields = childrenOf(der, tbsTlv);
  const alg = childrenOf(der, algTlv);
  if (!fields || !alg || alg[0]?.tag !== 0x06) return null;
  const signatureAlgorithmOid = decodeOid(contentOf(der, alg[0]));
  // version [0] is present for v3; then serial, signature, issuer, validity, subject, spki, [1] [2] [3].
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const issuer = fields[offset + 2];
  const subject = fields[offset + 4];
  const spki = fields[offset + 5];
  if (!signatureAlgorithmOid || !issuer || !subject || !spki) return null;
  if (issuer.tag !== 0x30 || subject.tag !== 0x30 || spki.tag !== 0x30) return null;
  const extensions = new Map<string, RawExtension>();
  const extWrapper = fields.slice(offset + 6).find((f) => f.tag === 0xa3);
  if (extWrapper) {
    const inner = childrenOf(der, extWrapper);
    const list = inner?.[0] && inner[0].tag === 0x30 ? childrenOf(der, inner[0]) : null;
    if (!list) return null;
    for (const ext of list) {
      const parts = childrenOf(der, ext);
      if (!parts || parts.length < 2 || parts[0]!.tag !== 0x06) return null;
      const id = decodeOid(contentOf(der, parts[0]!));
      const critical = parts.length === 3 && parts[1]!.tag === 0x01 && contentOf(der, parts[1]!)[0] === 0xff;
      const value = parts[parts.length - 1]!;
      if (!id || value.tag !== 0x04) return null;
      extensions.set(id, { critical, value: contentOf(der, value) });
    }
  }
  return {
    tbs: encodingOf(der, tbsTlv),
    signatureAlgorithmOid,
    issuer: encodingOf(der, issuer),
    subject: encodingOf(der, subject),
    spki: encodingOf(der, spki),
    extensions,
  };
}

/** The subjectPublicKey BIT STRING's key bytes (without the unused-bits octet), or null. */
export function subjectPublicKeyBits(spki: Buffer): Buffer | null {
  const outer = readTlv(spki, 0);
  const parts = outer && outer.tag === 0x30 ? childrenOf(spki, outer) : null;
  const bits = parts?.[1];
  if (!bits || bits.tag !== 0x03 || bits.end - bits.contentStart < 2) return null;
  return spki.subarray(bits.contentStart + 1, bits.end);
}

/** The keyIdentifier of a SubjectKeyIdentifier extension value (an OCTET STRING), or null. */
export function keyIdentifierOf(value: Buffer): Buffer | null {
  const tlv = readTlv(value, 0);
  return tlv && tlv.tag === 0x04 && tlv.end === value.length ? contentOf(value, tlv) : null;
}
