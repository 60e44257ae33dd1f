// Comparing the origin's certificate chain with the one mitmlab forged, field by field (pure).

import type { CertificateSummary } from '../../../../server/protocol/tls.js';
import { formatDateTime } from '../client/format.js';

export interface CertField {
  key: keyof CertificateSummary;
  label: string;
}

/** The fields shown, in order. */
export const CERT_FIELDS: readonly CertField[] = [
  { key: 'subject', label: 'Subject' },
  { key: 'issuer', label: 'Issuer' },
  { key: 'san', label: 'Names (SAN)' },
  { key: 'notBefore', label: 'Valid from' },
  { key: 'notAfter', label: 'Valid until' },
  { key: 'keyType', label: 'Key' },
  { key: 'signatureAlgorithm', label: 'Signature' },
  { key: 'serial', label: 'Serial' },
  { key: 'isCA', label: 'CA' },
  { key: 'sha256', label: 'SHA-256' },
];

/** A field's value as text. */
export function fieldText(cert: CertificateSummary, key: keyof CertificateSummary): string {
  const value = cert[key];
  if (key === 'keyType') return `${cert.keyType}${cert.keyBits ? ` ${cert.keyBits} bits` : ''}`;
  if (key === 'notBefore' || key === 'notAfter') return formatDateTime(cert[key], true);
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value ?? '');
}

export interface ChainRow {
  position: number;
  original: CertificateSummary | null;
  forged: CertificateSummary | null;
  /** Fields whose text differs (all fields when one side is missing). */
  differs: Set<keyof CertificateSummary>;
}

/** Pairs the chains by position (leaf first) and marks the fields that differ. */
export function compareChains(original: readonly CertificateSummary[], forged: readonly CertificateSummary[]): ChainRow[] {
  const rows: ChainRow[] = [];
  for (let i = 0; i < Math.max(original.length, forged.length); i++) {
    const a = original[i] ?? null;
    const b = forged[i] ?? null;
    const differs = new Set<keyof CertificateSummary>();
    for (const { key } of CERT_FIELDS) {
      if (a === null || b === null || fieldText(a, key) !== fieldText(b, key)) differs.add(key);
    }
    rows.push({ position: i, original: a, forged: b, differs });
  }
  return rows;
}
