// Reads a certificate's TBS fields and extensions with node-forge's generic ASN.1 parser: an oracle independent of
// server/certs/der.ts, and one that works for EC keys too (forge.pki cannot load non-RSA certificates).

import forge from 'node-forge';

const { asn1 } = forge;

export interface ForgeExtension {
  oid: string;
  critical: boolean;
  /** The extnValue contents parsed as ASN.1. */
  value: forge.asn1.Asn1;
  /** The extnValue contents as a byte string. */
  raw: string;
}

export interface ForgeCert {
  version: number;
  serialHex: string;
  signatureOid: string;
  outerSignatureOid: string;
  notBeforeTag: number;
  notAfterTag: number;
  subject: forge.asn1.Asn1;
  extensions: ForgeExtension[];
}

/** Parses DER with forge. */
export function forgeRead(der: Buffer): ForgeCert {
  const cert = (asn1.fromDer as unknown as (b: string, o: object) => forge.asn1.Asn1)(der.toString('latin1'), { strict: true, decodeBitStrings: false });
  const [tbs, outerAlg] = cert.value as forge.asn1.Asn1[];
  const fields = tbs!.value as forge.asn1.Asn1[];
  const versionWrapper = fields[0]!;
  const version = asn1.derToInteger((versionWrapper.value as forge.asn1.Asn1[])[0]!.value as string);
  const [, serial, sigAlg, , validity, subject] = fields;
  const [notBefore, notAfter] = validity!.value as forge.asn1.Asn1[];
  const extWrapper = fields.find((f) => f.tagClass === asn1.Class.CONTEXT_SPECIFIC && f.type === 3);
  const extensions: ForgeExtension[] = [];
  for (const ext of extWrapper ? ((extWrapper.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[]) : []) {
    const parts = ext.value as forge.asn1.Asn1[];
    const oid = asn1.derToOid(parts[0]!.value as string);
    const critical = parts.length === 3 && (parts[1]!.value as string) === '\xff';
    const raw = parts[parts.length - 1]!.value as string;
    extensions.push({ oid, critical, raw, value: asn1.fromDer(raw) });
  }
  return {
    version,
    serialHex: forge.util.bytesToHex(serial!.value as string),
    signatureOid: asn1.derToOid(((sigAlg!.value as forge.asn1.Asn1[])[0]!.value as string)),
    outerSignatureOid: asn1.derToOid(((outerAlg!.value as forge.asn1.Asn1[])[0]!.value as string)),
    notBeforeTag: notBefore!.type,
    notAfterTag: notAfter!.type,
    subject: subject!,
    extensions,
  };
}

export const OIDS = {
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  nameConstraints: '2.5.29.30',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
};

/** A KeyUsage BIT STRING as the set of bit numbers that are on. */
export function keyUsageBits(value: forge.asn1.Asn1): number[] {
  const bytes = value.value as string;
  const out: number[] = [];
  for (let i = 1; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) if (bytes.charCodeAt(i) & (0x80 >> bit)) out.push((i - 1) * 8 + bit);
  }
  return out;
}
