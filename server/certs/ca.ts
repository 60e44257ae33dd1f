// The lab CA on disk: created once (key generation is async and never on the hot path), loaded on every start,
// rotated on demand. Files: mitmlab-ca.pem (certificate), mitmlab-ca.cer (the same in DER), mitmlab-ca.key
// (PKCS#8 PEM, 0600) in a 0700 folder.

import crypto, { type KeyObject, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildCaCertificate, keyIdentifier } from './ca-profile.js';
import { CertError, isErrno } from './errors.js';
import type { HostName } from './hostnames.js';
import { constraintsPermit, describeNameConstraints, parsePermit, type PermittedNames } from './name-constraints.js';
import { OID } from './asn1-build.js';
import { ensurePrivateDir, errorText, modeWarnings, readIfExists, withLock, writeFileAtomic } from './secure-files.js';
import { certificatePem, keyTypeOf, randomSerial, type KeyType } from './sign.js';
import { certificateParts, keyIdentifierOf } from './x509-parts.js';

const generateKeyPair = promisify(crypto.generateKeyPair);
const DAY_MS = 86_400_000;

/** File names inside the CA folder. */
export const CA_FILES = {
  cert: 'mitmlab-ca.pem',
  der: 'mitmlab-ca.cer',
  key: 'mitmlab-ca.key',
  leafKey: 'mitmlab-leaf.key',
  leafKeyEc: 'mitmlab-leaf-ec.key',
} as const;

/** Default CA lifetime: one year, then `mitmlab ca rotate`. */
export const DEFAULT_CA_VALID_DAYS = 365;

/** Where and how to find or make the lab CA. */
export interface CaOptions {
  /** The CA folder (default ./ca at the CLI layer). */
  dir: string;
  /** DNS suffixes and IP CIDRs the CA may vouch for (a critical NameConstraints); applies when a CA is created. */
  permit?: string[] | undefined;
  /** Lifetime of a new CA in days (default 365). */
  validDays?: number | undefined;
  /** Create the CA when missing (default true). With false, a missing CA throws CA_MISSING. */
  create?: boolean | undefined;
  /** Key type of a new CA: RSA-2048 (default) or EC P-256. */
  keyType?: KeyType | undefined;
  /** The clock, for tests. */
  now?: Date | undefined;
}

/** A loaded lab CA. */
export interface LabCa {
  dir: string;
  certPath: string;
  derPath: string;
  keyPath: string;
  certPem: string;
  certDer: Buffer;
  cert: X509Certificate;
  key: KeyObject;
  keyType: KeyType;
  /** e.g. `CN=mitmlab lab CA - DO NOT TRUST outside the lab (3fa9c1), O=mitmlab lab, OU=…`. */
  subject: string;
  /** The subject Name's DER: every leaf's issuer, byte for byte (RFC 5280 §4.1.2.4). */
  subjectDer: Buffer;
  ski: Buffer;
  skiHex: string;
  /** SHA-256 of the certificate as openssl prints it: upper-case colon hex. */
  sha256Fingerprint: string;
  /** base64(SHA-256(SubjectPublicKeyInfo)): what Chromium's --ignore-certificate-errors-spki-list takes. */
  spkiSha256Base64: string;
  notBefore: Date;
  notAfter: Date;
  /** The NameConstraints in words (`permit DNS:lab.test`…), empty when unconstrained. */
  nameConstraints: string[];
  /** Whether the NameConstraints (--ca-permit) let this CA vouch for a name; always true when unconstrained. */
  permits(host: HostName): boolean;
  /** True when this call created the CA. */
  created: boolean;
  /** Problems worth telling the user that do not stop mitmlab (e.g. a key readable by others). */
  warnings: string[];
  /** Whole days until notAfter (negative once expired). */
  daysLeft(now?: Date): number;
}

/** Paths of the CA files in a folder. */
export function caPaths(dir: string): { dir: string; certPath: string; derPath: string; keyPath: string; leafKeyPath: string; leafKeyEcPath: string } {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    certPath: path.join(abs, CA_FILES.cert),
    derPath: path.join(abs, CA_FILES.der),
    keyPath: path.join(abs, CA_FILES.key),
    leafKeyPath: path.join(abs, CA_FILES.leafKey),
    leafKeyEcPath: path.join(abs, CA_FILES.leafKeyEc),
  };
}

/** Loads the lab CA from `dir`, creating it on first run. */
export async function loadOrCreateCa(opts: CaOptions): Promise<LabCa> {
  const paths = caPaths(opts.dir);
  const existing = await readPair(paths);
  if (existing) return loadCa(paths, existing.cert, existing.key, false, []);
  if (opts.create === false) {
    throw new CertError('CA_MISSING', `No lab CA in ${paths.dir}. Run \`mitmlab ca init --ca-dir ${paths.dir}\` to create one.`);
  }
  const permitted = checkCreateOptions(opts);
  const dirWarning = await ensurePrivateDir(paths.dir);
  return withLock(paths.dir, async () => {
    // Another process may have created it while we waited for the lock.
    const raced = await readPair(paths);
    if (raced) return loadCa(paths, raced.cert, raced.key, false, []);
    return createCa(paths, opts, permitted, dirWarning ? [dirWarning] : []);
  });
}

/** Moves the current CA files into `old-<ISO time>/` and creates a new CA. archivedTo is null when there was none. */
export async function rotateCa(opts: CaOptions): Promise<{ ca: LabCa; archivedTo: string | null }> {
  const paths = caPaths(opts.dir);
  const permitted = checkCreateOptions(opts);
  const dirWarning = await ensurePrivateDir(paths.dir);
  return withLock(paths.dir, async () => {
    const now = opts.now ?? new Date();
    const present: string[] = [];
    for (const name of Object.values(CA_FILES)) {
      if (await fs.stat(path.join(paths.dir, name)).catch(() => null)) present.push(name);
    }
    let archivedTo: string | null = null;
    if (present.length > 0) {
      // e.g. old-2026-11-22T05-10-00Z: sortable, and no ':' (not allowed in Windows file names).
      const stamp = `old-${now.toISOString().replace(/\.\d{3}Z$/, 'Z').replaceAll(':', '-')}`;
      archivedTo = path.join(paths.dir, stamp);
      for (let n = 2; await fs.stat(archivedTo).catch(() => null); n++) archivedTo = path.join(paths.dir, `${stamp}-${n}`);
      await fs.mkdir(archivedTo, { mode: 0o700 });
      for (const name of present) await fs.rename(path.join(paths.dir, name), path.join(archivedTo, name));
    }
    const ca = await createCa(paths, opts, permitted, dirWarning ? [dirWarning] : []);
    return { ca, archivedTo };
  });
}

function checkCreateOptions(opts: CaOptions): PermittedNames | undefined {
  const validDays = opts.validDays ?? DEFAULT_CA_VALID_DAYS;
  if (!Number.isInteger(validDays) || validDays < 1 || validDays > 3650) {
    throw new CertError('CA_BAD_VALIDITY', `The CA lifetime must be a whole number of days from 1 to 3650 (got ${String(opts.validDays)}).`);
  }
  if (!opts.permit || opts.permit.length === 0) return undefined;
  const parsed = parsePermit(opts.permit);
  if (!parsed.ok) throw new CertError('CA_BAD_PERMIT', `${parsed.reason}. Use DNS suffixes like lab.test and IPs or CIDRs like 10.0.0.0/8.`);
  return parsed.value;
}

async function createCa(
  paths: ReturnType<typeof caPaths>,
  opts: CaOptions,
  permitted: PermittedNames | undefined,
  warnings: string[],
): Promise<LabCa> {
  const keyType = opts.keyType ?? 'rsa';
  // Generated on the thread pool: RSA-2048 takes 50–500 ms and must not stall anything else.
  const { privateKey, publicKey } =
    keyType === 'rsa'
      ? await generateKeyPair('rsa', { modulusLength: 2048 })
      : await generateKeyPair('ec', { namedCurve: 'prime256v1' });
  const der = buildCaCertificate({
    privateKey,
    publicKey,
    suffix: crypto.randomBytes(3).toString('hex'),
    serial: randomSerial(),
    now: opts.now ?? new Date(),
    validDays: opts.validDays ?? DEFAULT_CA_VALID_DAYS,
    permitted,
  });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const certPem = certificatePem(der);
  try {
    // Key first, certificate last: a present certificate always has its key beside it.
    await writeFileAtomic(paths.keyPath, keyPem, 0o600);
    await writeFileAtomic(paths.derPath, der, 0o644);
    await writeFileAtomic(paths.certPath, certPem, 0o644);
  } catch (error) {
    throw new CertError('CA_DIR_NOT_WRITABLE', `Cannot write the CA into ${paths.dir}: ${errorText(error)}. Fix the folder's permissions or choose another --ca-dir.`, { cause: error });
  }
  return loadCa(paths, Buffer.from(certPem), Buffer.from(keyPem), true, warnings);
}

async function readPair(paths: ReturnType<typeof caPaths>): Promise<{ cert: Buffer; key: Buffer } | null> {
  let cert: Buffer | null;
  let key: Buffer | null;
  try {
    cert = await readIfExists(paths.certPath);
    key = await readIfExists(paths.keyPath);
  } catch (error) {
    const fix = isErrno(error, 'EACCES', 'EPERM')
      ? `Run mitmlab as the user who owns ${paths.dir}, or fix its permissions (chmod 700 on the folder, 600 on the key).`
      : `Check --ca-dir (${paths.dir}).`;
    throw new CertError('CA_DIR_UNREADABLE', `Cannot read the lab CA in ${paths.dir}: ${errorText(error)}. ${fix}`, { cause: error });
  }
  if (cert && key) return { cert, key };
  if (!cert && !key) return null;
  const missing = cert ? paths.keyPath : paths.certPath;
  throw new CertError('CA_INCOMPLETE', `The lab CA in ${paths.dir} is incomplete: ${missing} is missing. Restore it, or run \`mitmlab ca rotate\` to archive what is left and make a new CA.`);
}

async function loadCa(paths: ReturnType<typeof caPaths>, certPemBytes: Buffer, keyPemBytes: Buffer, created: boolean, warnings: string[]): Promise<LabCa> {
  const rotateHint = 'run `mitmlab ca rotate` to archive it and make a new CA (then trust the new one)';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPemBytes);
  } catch (error) {
    throw new CertError('CA_CERT_CORRUPT', `The CA certificate ${paths.certPath} is not a readable PEM certificate. Restore it from a backup, or ${rotateHint}.`, { cause: error });
  }
  let key: KeyObject;
  try {
    key = crypto.createPrivateKey(keyPemBytes);
  } catch (error) {
    throw new CertError('CA_KEY_CORRUPT', `The CA key ${paths.keyPath} is not a readable unencrypted PEM private key. Restore it from a backup, or ${rotateHint}.`, { cause: error });
  }
  const keyType = keyTypeOf(key);
  if (!cert.checkPrivateKey(key)) {
    throw new CertError('CA_KEY_MISMATCH', `The CA key ${paths.keyPath} does not belong to the certificate ${paths.certPath}. Put back the matching pair, or ${rotateHint}.`);
  }
  if (!cert.ca) throw new CertError('CA_NOT_A_CA', `${paths.certPath} is not a CA certificate (basicConstraints cA is not set). Remove it, or ${rotateHint}.`);
  const certDer = Buffer.from(cert.raw);
  const parts = certificateParts(certDer);
  if (!parts) throw new CertError('CA_CERT_CORRUPT', `The CA certificate ${paths.certPath} is not a well-formed X.509 v3 certificate. ${rotateHint}.`);
  const skiExt = parts.extensions.get(OID.subjectKeyIdentifier);
  const ski = (skiExt && keyIdentifierOf(skiExt.value)) ?? keyIdentifier(parts.spki);
  const ncExt = parts.extensions.get(OID.nameConstraints);

  // The DER copy is derived from the PEM: (re)write it when missing or stale, e.g. after restoring the PEM alone.
  const currentDer = await readIfExists(paths.derPath).catch(() => null);
  if (!currentDer || !currentDer.equals(certDer)) {
    await writeFileAtomic(paths.derPath, certDer, 0o644).catch((error: unknown) => warnings.push(`could not write ${paths.derPath}: ${errorText(error)}`));
  }
  warnings.push(...(await modeWarnings(paths.keyPath, paths.dir)));

  const notAfter = new Date(cert.validTo);
  return {
    dir: paths.dir,
    certPath: paths.certPath,
    derPath: paths.derPath,
    keyPath: paths.keyPath,
    certPem: cert.toString(),
    certDer,
    cert,
    key,
    keyType,
    subject: cert.subject.split('\n').join(', '),
    subjectDer: Buffer.from(parts.subject),
    ski: Buffer.from(ski),
    skiHex: Buffer.from(ski).toString('hex'),
    sha256Fingerprint: cert.fingerprint256,
    spkiSha256Base64: crypto.createHash('sha256').update(Buffer.from(parts.spki)).digest('base64'),
    notBefore: new Date(cert.validFrom),
    notAfter,
    nameConstraints: ncExt ? describeNameConstraints(ncExt.value) : [],
    permits: ncExt ? (host) => constraintsPermit(ncExt.value, host) : () => true,
    created,
    warnings,
    daysLeft: (now = new Date()) => Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS),
  };
}
