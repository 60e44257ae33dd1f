// One certificate as mitmlab shows it (CertificateSummary in protocol/tls.ts), read with node:crypto's X509Certificate.
// The signature algorithm comes from the DER (Node does not expose it): forge cannot parse EC certificates.

import crypto, { X509Certificate } from 'node:crypto';
import type { CertificateSummary } from '../protocol/tls.js';
import { CertError } from './errors.js';
import { certificateParts } from './x509-parts.js';

// Signature algorithm OIDs (RFC 4055, RFC 5758, RFC 8410, RFC 3279) and their usual names.
const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521, secp256k1: 256 };
const CURVE_NAMES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** Summarizes a certificate (DER bytes or a parsed X509Certificate). Throws CERT_UNPARSABLE for bytes that are not one. */
export function summarizeCertificate(input: Buffer | Uint8Array | X509Certificate): CertificateSummary {
  let cert: X509Certificate;
  try {
    cert = input instanceof X509Certificate ? input : new X509Certificate(input);
  } catch (error) {
    throw new CertError('CERT_UNPARSABLE', 'The bytes are not a DER or PEM X.509 certificate.', { cause: error });
  }
  const parts = certificateParts(Buffer.from(cert.raw));
  const oid = parts?.signatureAlgorithmOid ?? null;
  const key = publicKeyInfo(cert);
  return {
    subject: dn(cert.subject),
    issuer: dn(cert.issuer),
    serial: cert.serialNumber.toUpperCase(),
    notBefore: iso(cert.validFrom),
    notAfter: iso(cert.validTo),
    san: sanEntries(cert.subjectAltName),
    keyType: key.type,
    keyBits: key.bits,
    signatureAlgorithm: oid ? (SIGNATURE_ALGORITHMS[oid] ?? oid) : 'unknown',
    sha256: cert.fingerprint256,
    isCA: cert.ca,
    pem: cert.toString(),
  };
}

/** Node's `subjectAltName` text (`DNS:a, IP Address:1.2.3.4`) as `DNS:a`, `IP:1.2.3.4` entries. */
export function sanEntries(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  // Node quotes values holding ", " as JSON strings (CVE-2021-44532 fix), so split with that in mind.
  const re = /(DNS|IP Address|email|URI|DirName|othername|Registered ID):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const match of text.matchAll(re)) {
    const kind = match[1]!;
    let value = match[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        // keep the quoted text
      }
    }
    out.push(kind === 'IP Address' ? `IP:${value}` : `${kind}:${value}`);
  }
  return out;
}

function publicKeyInfo(cert: X509Certificate): { type: string; bits: number | null } {
  let key: crypto.KeyObject;
  try {
    key = cert.publicKey;
  } catch {
    return { type: 'unknown', bits: null };
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { type: 'RSA', bits: details.modulusLength ?? null };
    case 'rsa-pss':
      return { type: 'RSA-PSS', bits: details.modulusLength ?? null };
    case 'ec': {
      const curve = details.namedCurve ?? '';
      return { type: `EC ${CURVE_NAMES[curve] ?? curve}`.trim(), bits: CURVE_BITS[curve] ?? null };
    }
    case 'ed25519':
      return { type: 'Ed25519', bits: 256 };
    case 'ed448':
      return { type: 'Ed448', bits: 456 };
    default:
      return { type: key.asymmetricKeyType ?? 'unknown', bits: null };
  }
}

function dn(text: string): string {
  return text.split('\n').filter(Boolean).join(', ');
}

function iso(text: string): string {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}
