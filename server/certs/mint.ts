// Leaf certificates for intercepted hosts: structure built with node-forge's ASN.1, signed with node:crypto.
// Pure apart from the serial's randomness; the clock is a parameter.
//
// Profile (RFC 5280 §4.1–4.2, CA/Browser Forum Baseline Requirements §7.1.2.7, browser rules):
// - SAN always, DNS or IP entries: browsers match only the SAN (Chrome 58+, RFC 6125 §6.4.4); CN = first DNS name
//   when it fits ub-common-name (64), else no CN and the SAN is critical (RFC 5280 §4.2.1.6, empty subject);
// - validity ≤ 47 days: the CA/B Forum's ceiling from 15 March 2029 (ballot SC-081v3), which also keeps us within
//   Apple's 825-day and the 398-day rules; backdated a day for slow client clocks; never past the CA's notAfter;
// - EKU serverAuth; KeyUsage digitalSignature (+ keyEncipherment for RSA, BR §7.1.2.7.11) critical; BasicConstraints
//   CA:FALSE; AKI = the CA's SKI; no leaf SKI (optional for leaves since BR 2.0.0);
// - serial: 16 random bytes, positive (RFC 5280 §4.1.2.2);
// - signature: sha256WithRSAEncryption or ecdsa-with-SHA256, following the CA key.

import type { X509Certificate } from 'node:crypto';
import {
  authorityKeyIdentifier,
  basicConstraints,
  dnsName,
  extKeyUsage,
  extension,
  fromDer,
  ipAddress,
  KeyUsageBit,
  keyUsage,
  name,
  OID,
  seq,
  signatureAlgorithm,
  tbsCertificate,
  toDer,
  type Node,
} from './asn1-build.js';
import type { LabCa } from './ca.js';
import { MAX_COMMON_NAME } from './ca-profile.js';
import { CertError } from './errors.js';
import { certNamesFor, hostKey, isCertDnsName, type HostName } from './hostnames.js';
import { ipToBytes } from './ip-bytes.js';
import type { LeafKey } from './leaf-key.js';
import { assembleCertificate, certificatePem, randomSerial, signAsync, signSync, type KeyType } from './sign.js';

const DAY_MS = 86_400_000;
/** Leaf lifetime ceiling in days (CA/B Forum BR, ballot SC-081v3: 47 days from 2029-03-15). */
export const MAX_LEAF_DAYS = 47;
/** Most names in one leaf: a bound on work and certificate size. */
export const MAX_LEAF_NAMES = 200;

/** A minted certificate. */
export interface MintResult {
  certPem: string;
  certDer: Buffer;
  notAfter: Date;
  /** The SAN entries in order, as text (`example.com`, `*.example.com`, `192.0.2.1`). */
  names: string[];
}

/** The CA subset minting needs. */
export type MintCa = Pick<LabCa, 'subjectDer' | 'ski' | 'keyType' | 'key' | 'notBefore' | 'notAfter'> & {
  cert?: X509Certificate;
};

/** Mints a leaf for the names, signing on the calling thread. */
export function mintLeaf(ca: MintCa, leafKey: LeafKey, names: HostName[], now: Date = new Date()): MintResult {
  const tbs = buildLeafTbs(ca, leafKey, names, now);
  return finish(tbs, ca.keyType, signSync(tbs.der, ca.key));
}

/** Mints a leaf for the names, signing on libuv's thread pool (the event loop only builds the structure). */
export async function mintLeafAsync(ca: MintCa, leafKey: LeafKey, names: HostName[], now: Date = new Date()): Promise<MintResult> {
  const tbs = buildLeafTbs(ca, leafKey, names, now);
  return finish(tbs, ca.keyType, await signAsync(tbs.der, ca.key));
}

/** The certificate names for hosts: mapped by certNamesFor, deduplicated, order kept. Throws on an invalid name. */
export function leafNames(names: HostName[]): HostName[] {
  const out: HostName[] = [];
  const seen = new Set<string>();
  for (const host of names) {
    for (const certName of certNamesFor(host)) {
      const key = hostKey(certName);
      if (seen.has(key)) continue;
      if (certName.kind === 'dns' ? !isCertDnsName(certName.name) : !ipToBytes(certName.address)) {
        throw new CertError('MINT_BAD_NAME', `Cannot put ${JSON.stringify(key)} in a certificate: pass names through normalizeHost first.`);
      }
      // A name with '_' left after certNamesFor has no RFC 5280 form. Some verifiers (mozilla::pkix) reject the
      // whole certificate over one such SAN, so it is kept only as the first name (the host being visited), where
      // nothing better exists; extra names copied from an origin are dropped instead.
      if (certName.kind === 'dns' && certName.name.includes('_') && out.length > 0) continue;
      seen.add(key);
      out.push(certName);
    }
  }
  if (out.length === 0) throw new CertError('MINT_NO_NAMES', 'A leaf certificate needs at least one name.');
  if (out.length > MAX_LEAF_NAMES) throw new CertError('MINT_TOO_MANY_NAMES', `A leaf certificate takes at most ${MAX_LEAF_NAMES} names (got ${out.length}).`);
  return out;
}

/** The leaf's validity: backdated a day, at most 47 days long, within the CA's own validity. */
export function leafValidity(ca: Pick<MintCa, 'notBefore' | 'notAfter'>, now: Date): { notBefore: Date; notAfter: Date } {
  if (now.getTime() >= ca.notAfter.getTime()) {
    throw new CertError('CA_EXPIRED', `The lab CA expired on ${ca.notAfter.toISOString()}. Run \`mitmlab ca rotate\`, then trust the new CA.`);
  }
  const second = (ms: number): number => Math.floor(ms / 1000) * 1000;
  const notBefore = second(Math.max(now.getTime() - DAY_MS, ca.notBefore.getTime()));
  // The validity period counts both ends (RFC 5280 §4.1.2.5): 47 days less one second.
  const notAfter = Math.min(notBefore + MAX_LEAF_DAYS * DAY_MS - 1000, second(ca.notAfter.getTime()));
  return { notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
}

/** Constant parts per (CA, leaf key), built once. */
interface Template {
  issuer: Node;
  spki: Node;
  signature: Node;
  aki: Node;
  eku: Node;
  keyUsage: Node;
  basicConstraints: Node;
}

const templates = new WeakMap<object, WeakMap<LeafKey, Template>>();

function templateFor(ca: MintCa, leafKey: LeafKey): Template {
  let perCa = templates.get(ca);
  if (!perCa) templates.set(ca, (perCa = new WeakMap()));
  let template = perCa.get(leafKey);
  if (!template) {
    const usage = leafKey.type === 'rsa' ? [KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment] : [KeyUsageBit.digitalSignature];
    template = {
      issuer: fromDer(ca.subjectDer),
      spki: fromDer(leafKey.spkiDer),
      signature: signatureAlgorithm(ca.keyType),
      aki: extension(OID.authorityKeyIdentifier, false, authorityKeyIdentifier(ca.ski)),
      eku: extension(OID.extKeyUsage, false, extKeyUsage([OID.serverAuth])),
      keyUsage: extension(OID.keyUsage, true, keyUsage(usage)),
      basicConstraints: extension(OID.basicConstraints, true, basicConstraints(false)),
    };
    perCa.set(leafKey, template);
  }
  return template;
}

interface BuiltTbs {
  der: Buffer;
  notAfter: Date;
  names: string[];
}

function buildLeafTbs(ca: MintCa, leafKey: LeafKey, hosts: HostName[], now: Date): BuiltTbs {
  const names = leafNames(hosts);
  const { notBefore, notAfter } = leafValidity(ca, now);
  const t = templateFor(ca, leafKey);
  const commonName = names.find((n): n is Extract<HostName, { kind: 'dns' }> => n.kind === 'dns' && n.name.length <= MAX_COMMON_NAME);
  const san = seq(names.map((n) => (n.kind === 'dns' ? dnsName(n.name) : ipAddress(ipToBytes(n.address)!))));
  const der = toDer(
    tbsCertificate({
      serial: randomSerial(),
      signature: t.signature,
      issuer: t.issuer,
      notBefore,
      notAfter,
      subject: name(commonName ? [[OID.commonName, commonName.name]] : []),
      spki: t.spki,
      extensions: [t.keyUsage, t.eku, t.basicConstraints, t.aki, extension(OID.subjectAltName, !commonName, san)],
    }),
  );
  return { der, notAfter, names: names.map(hostKey) };
}

function finish(tbs: BuiltTbs, keyType: KeyType, signature: Buffer): MintResult {
  const certDer = assembleCertificate(tbs.der, keyType, signature);
  return { certPem: certificatePem(certDer), certDer, notAfter: tbs.notAfter, names: tbs.names };
}
