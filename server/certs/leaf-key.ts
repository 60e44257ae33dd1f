// The leaf key pairs of a CA, one per key type. Every certificate minted for a type carries that type's one public
// key: per-host RSA key generation costs 100–400 ms and would block (DESIGN.md §1). Generated async once, then kept
// next to the CA (0600: mitmlab-leaf.key for RSA, mitmlab-leaf-ec.key for EC) so a restart is instant; rotating
// the CA archives them with the CA.

import crypto, { type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CA_FILES } from './ca.js';
import { isErrno } from './errors.js';
import { readIfExists, withLock, writeFileAtomic } from './secure-files.js';
import type { KeyType } from './sign.js';

const generateKeyPair = promisify(crypto.generateKeyPair);

/** The leaf key pair shared by all certificates one CA mints. */
export interface LeafKey {
  type: KeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER, embedded verbatim in every leaf. */
  spkiDer: Buffer;
  /** base64(SHA-256(SPKI)): the same for every minted leaf, for Chromium's --ignore-certificate-errors-spki-list. */
  spkiSha256Base64: string;
  /**
   * The private key as PEM in the form OpenSSL parses fastest (PKCS#1 for RSA, SEC1 for EC), converted once: every
   * tls.createSecureContext parses it again, and that parse is the largest part of a context's cost.
   */
  contextKeyPem: string;
}

/** Where and which leaf key. */
export interface LeafKeyOptions {
  /** The CA folder; the key is kept there (mitmlab-leaf.key, mitmlab-leaf-ec.key). Omit to keep it in memory only. */
  dir?: string | undefined;
  /** RSA-2048 (default) or EC P-256. */
  type?: KeyType | undefined;
}

/** `--leaf-key`: both types (each client gets the one it accepts, see key-choice.ts), or one for every client. */
export type LeafKeyChoice = 'auto' | KeyType;

/** Loads the CA folder's leaf key, or generates (and saves) one of the requested type. */
export async function loadOrCreateLeafKey(opts: LeafKeyOptions = {}): Promise<LeafKey> {
  const type = opts.type ?? 'rsa';
  const dir = opts.dir ? path.resolve(opts.dir) : null;
  const file = dir ? path.join(dir, type === 'rsa' ? CA_FILES.leafKey : CA_FILES.leafKeyEc) : null;
  if (file && dir) {
    await adoptOldEcKey(dir);
    const saved = await readLeafKey(file);
    if (saved?.type === type) return saved;
    // Unreadable or of another type: the leaf key is derived state, so a new one simply replaces it.
  }
  const key = await generateLeafKey(type);
  if (file) await writeFileAtomic(file, key.privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600);
  return key;
}

/**
 * The leaf keys `choice` needs: EC P-256 first, then RSA-2048, for 'auto'. Under the CA folder's lock: moving an old
 * key (adoptOldEcKey) and writing new ones must not interleave with another mitmlab starting, or a `ca rotate`.
 */
export async function loadOrCreateLeafKeys(opts: { dir?: string | undefined; choice: LeafKeyChoice }): Promise<LeafKey[]> {
  const types: KeyType[] = opts.choice === 'auto' ? ['ec', 'rsa'] : [opts.choice];
  const load = async (): Promise<LeafKey[]> => {
    const keys: LeafKey[] = [];
    for (const type of types) keys.push(await loadOrCreateLeafKey({ dir: opts.dir, type }));
    return keys;
  };
  return opts.dir ? withLock(path.resolve(opts.dir), load) : load();
}

/** The leaf key saved in `file`, or null when it is missing or unreadable. */
export async function readLeafKey(file: string): Promise<LeafKey | null> {
  const pem = await readIfExists(file).catch(() => null);
  if (!pem) return null;
  try {
    return leafKeyFrom(crypto.createPrivateKey(pem));
  } catch {
    return null;
  }
}

/**
 * Before the EC key had its own file, `--leaf-key ec` kept it in mitmlab-leaf.key. Moved to mitmlab-leaf-ec.key (when
 * that is free), it stays the key of every EC certificate, so an SPKI hash pinned for it (Chromium's
 * --ignore-certificate-errors-spki-list) still matches, and mitmlab-leaf.key is free for the RSA key.
 */
async function adoptOldEcKey(dir: string): Promise<void> {
  const oldFile = path.join(dir, CA_FILES.leafKey);
  const ecFile = path.join(dir, CA_FILES.leafKeyEc);
  if ((await readLeafKey(oldFile))?.type !== 'ec' || (await readLeafKey(ecFile))?.type === 'ec') return;
  try {
    await fs.rename(oldFile, ecFile);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return; // moved meanwhile by a process that did not take the lock
    throw error;
  }
  await fs.chmod(ecFile, 0o600);
}

/** Generates a fresh leaf key pair on the thread pool. */
export async function generateLeafKey(type: KeyType = 'rsa'): Promise<LeafKey> {
  const { privateKey } =
    type === 'rsa'
      ? await generateKeyPair('rsa', { modulusLength: 2048 })
      : await generateKeyPair('ec', { namedCurve: 'prime256v1' });
  return leafKeyFrom(privateKey);
}

/** Wraps an RSA or EC P-256 private key as a LeafKey. */
export function leafKeyFrom(privateKey: KeyObject): LeafKey {
  const type = privateKey.asymmetricKeyType === 'rsa' ? 'rsa' : privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ec' : null;
  if (!type) throw new Error(`unsupported leaf key type ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  const publicKey = crypto.createPublicKey(privateKey);
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  return {
    type,
    privateKey,
    publicKey,
    spkiDer,
    spkiSha256Base64: crypto.createHash('sha256').update(spkiDer).digest('base64'),
    contextKeyPem: privateKey.export({ type: type === 'rsa' ? 'pkcs1' : 'sec1', format: 'pem' }) as string,
  };
}
