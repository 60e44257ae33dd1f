// A per-run origin PKI for tests: an origin root CA and origin certificates (valid, expired, wrong host,
// self-signed), built with node-forge and node:crypto keys, written to a temp folder. Nothing here is committed or
// shared between runs (DESIGN.md §5). This is deliberately independent of server/certs: the origin side of a test
// must not be built by the code under test.

import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generateKeyPair = promisify(crypto.generateKeyPair);
const DAY_MS = 86_400_000;

/** One origin certificate with its key, as PEM and as files. */
export interface TestLeaf {
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
  /** Leaf + root, for servers that send the whole chain. */
  chainPem: string;
}

export interface TestPki {
  dir: string;
  rootPem: string;
  rootPath: string;
  rootKeyPem: string;
  /** Valid now, for exactly the requested names. */
  valid: TestLeaf;
  /** Same names, expired a day ago. */
  expired: TestLeaf;
  /** Valid now, but for `wrong-host.test` only. */
  wrongHost: TestLeaf;
  /** For the requested names, signed by its own key (not by the root). */
  selfSigned: TestLeaf;
  /** Mints one more leaf from the root. */
  issue(opts: { names: string[]; notBefore?: Date; notAfter?: Date; name?: string }): Promise<TestLeaf>;
  /** Removes the folder. */
  dispose(): Promise<void>;
}

export interface TestPkiOptions {
  /** DNS names and IP literals for the valid, expired and self-signed certificates. */
  names: string[];
  /** Folder to write into (default: a new temp folder). */
  dir?: string;
}

// One root key and one leaf key per process: key generation dominates the cost, and tests only need distinct
// certificates, not distinct keys.
let keysPromise: Promise<{ root: crypto.KeyObject; leaf: crypto.KeyObject }> | null = null;
function testKeys(): Promise<{ root: crypto.KeyObject; leaf: crypto.KeyObject }> {
  keysPromise ??= Promise.all([
    generateKeyPair('rsa', { modulusLength: 2048 }),
    generateKeyPair('rsa', { modulusLength: 2048 }),
  ]).then(([root, leaf]) => ({ root: root.privateKey, leaf: leaf.privateKey }));
  return keysPromise;
}

/** Creates a fresh origin PKI in a temp folder. */
export async function createTestPki(opts: TestPkiOptions): Promise<TestPki> {
  const keys = await testKeys();
  const dir = opts.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'mitmlab-pki-')));
  await fs.mkdir(dir, { recursive: true });
  const rootKey = toForgeKey(keys.root);
  const leafKey = toForgeKey(keys.leaf);
  const leafKeyPem = keys.leaf.export({ type: 'pkcs8', format: 'pem' }) as string;
  const now = Date.now();

  const root = forge.pki.createCertificate();
  root.publicKey = forge.pki.setRsaPublicKey(rootKey.n, rootKey.e);
  root.serialNumber = serialHex();
  root.validity.notBefore = new Date(now - 2 * DAY_MS);
  root.validity.notAfter = new Date(now + 30 * DAY_MS);
  const rootName = [
    { name: 'commonName', value: `mitmlab test origin root ${crypto.randomBytes(3).toString('hex')}` },
    { name: 'organizationName', value: 'mitmlab tests' },
  ];
  root.setSubject(rootName);
  root.setIssuer(rootName);
  root.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  root.sign(rootKey, forge.md.sha256.create());
  const rootPem = forge.pki.certificateToPem(root);
  const rootPath = path.join(dir, 'origin-root.pem');
  await fs.writeFile(rootPath, rootPem);
  const rootSki = root.generateSubjectKeyIdentifier().getBytes();

  const write = async (label: string, certPem: string): Promise<TestLeaf> => {
    const certPath = path.join(dir, `${label}.pem`);
    const keyPath = path.join(dir, `${label}.key`);
    await fs.writeFile(certPath, certPem);
    await fs.writeFile(keyPath, leafKeyPem, { mode: 0o600 });
    return { certPem, keyPem: leafKeyPem, certPath, keyPath, chainPem: certPem + rootPem };
  };

  const leafCert = (names: string[], notBefore: Date, notAfter: Date, selfSigned = false): string => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.setRsaPublicKey(leafKey.n, leafKey.e);
    cert.serialNumber = serialHex();
    cert.validity.notBefore = notBefore;
    cert.validity.notAfter = notAfter;
    const subject = [{ name: 'commonName', value: names[0] ?? 'origin' }];
    cert.setSubject(subject);
    cert.setIssuer(selfSigned ? subject : rootName);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
      ...(selfSigned ? [] : [{ name: 'authorityKeyIdentifier', keyIdentifier: rootSki }]),
    ]);
    cert.sign(selfSigned ? leafKey : rootKey, forge.md.sha256.create());
    return forge.pki.certificateToPem(cert);
  };

  const validFrom = new Date(now - DAY_MS);
  const validTo = new Date(now + 20 * DAY_MS);
  let extra = 0;
  return {
    dir,
    rootPem,
    rootPath,
    rootKeyPem: keys.root.export({ type: 'pkcs8', format: 'pem' }) as string,
    valid: await write('valid', leafCert(opts.names, validFrom, validTo)),
    expired: await write('expired', leafCert(opts.names, new Date(now - 20 * DAY_MS), new Date(now - DAY_MS))),
    wrongHost: await write('wrong-host', leafCert(['wrong-host.test'], validFrom, validTo)),
    selfSigned: await write('self-signed', leafCert(opts.names, validFrom, validTo, true)),
    issue: async (o) => write(o.name ?? `extra-${++extra}`, leafCert(o.names, o.notBefore ?? validFrom, o.notAfter ?? validTo)),
    dispose: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

function toForgeKey(key: crypto.KeyObject): forge.pki.rsa.PrivateKey {
  return forge.pki.privateKeyFromPem(key.export({ type: 'pkcs1', format: 'pem' }) as string) as forge.pki.rsa.PrivateKey;
}

// 16 random bytes, high bit clear: a positive serial (RFC 5280 §4.1.2.2).
function serialHex(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}
