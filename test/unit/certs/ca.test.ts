import crypto, { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { CA_FILES, loadOrCreateCa, rotateCa } from '../../../server/certs/ca.js';
import { loadOrCreateLeafKey } from '../../../server/certs/leaf-key.js';
import { mintLeaf } from '../../../server/certs/mint.js';
import { forgeRead, keyUsageBits, OIDS } from './forge-read.js';
import { pemLine, tempDir } from './fixtures.js';

const DAY = 86_400_000;
const mode = async (p: string): Promise<number> => (await fs.stat(p)).mode & 0o777;
const posix = process.platform !== 'win32';

async function caDir(): Promise<string> {
  return path.join(await tempDir(), 'ca');
}

describe('loadOrCreateCa: creation', () => {
  it('writes the PEM, DER and PKCS#8 key with private modes in a private folder', async () => {
    const dir = await caDir();
    const ca = await loadOrCreateCa({ dir });
    expect(ca.created).toBe(true);
    expect(ca.certPath).toBe(path.join(dir, CA_FILES.cert));
    const pem = await fs.readFile(path.join(dir, 'mitmlab-ca.pem'), 'utf8');
    const der = await fs.readFile(path.join(dir, 'mitmlab-ca.cer'));
    const key = await fs.readFile(path.join(dir, 'mitmlab-ca.key'), 'utf8');
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(new X509Certificate(pem).raw.equals(der)).toBe(true);
    expect(key).toMatch(new RegExp(`^${pemLine('BEGIN', 'PRIVATE KEY')}\n`)); // PKCS#8
    expect(new X509Certificate(pem).checkPrivateKey(crypto.createPrivateKey(key))).toBe(true);
    if (posix) {
      expect(await mode(dir)).toBe(0o700);
      expect(await mode(path.join(dir, 'mitmlab-ca.key'))).toBe(0o600);
      expect(await mode(path.join(dir, 'mitmlab-ca.pem'))).toBe(0o644);
    }
    expect(ca.warnings).toEqual([]);
  });

  it('makes an existing folder private when it creates the CA in it', async () => {
    const dir = await caDir();
    await fs.mkdir(dir, { mode: 0o755 });
    await fs.chmod(dir, 0o755);
    await loadOrCreateCa({ dir });
    if (posix) expect(await mode(dir)).toBe(0o700);
  });

  it('has the lab CA profile: subject, extensions, validity', async () => {
    const now = new Date('2026-11-22T05:10:00Z');
    const ca = await loadOrCreateCa({ dir: await caDir(), now });
    const x = ca.cert;
    const cn = /^CN=(.*)$/m.exec(x.subject)![1]!;
    expect(cn).toMatch(/^mitmlab lab CA - DO NOT TRUST outside the lab \([0-9a-f]{6}\)$/);
    expect(cn.length).toBeLessThanOrEqual(64);
    expect(x.subject).toContain('O=mitmlab lab');
    expect(x.issuer).toBe(x.subject);
    expect(x.ca).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(ca.subject).toBe(x.subject.split('\n').join(', '));
    expect(ca.keyType).toBe('rsa');
    expect(x.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);

    expect(ca.notBefore.toISOString()).toBe('2026-11-21T05:10:00.000Z');
    expect(ca.notAfter.toISOString()).toBe('2027-11-22T05:10:00.000Z');
    expect(ca.daysLeft(now)).toBe(365);
    expect(ca.daysLeft(new Date(now.getTime() + 400 * DAY))).toBeLessThan(0);

    const f = forgeRead(ca.certDer);
    expect(f.signatureOid).toBe(OIDS.sha256WithRSAEncryption);
    const ext = new Map(f.extensions.map((e) => [e.oid, e]));
    expect([...ext.keys()].sort()).toEqual([OIDS.basicConstraints, OIDS.keyUsage, OIDS.subjectKeyIdentifier].sort());
    const bc = ext.get(OIDS.basicConstraints)!;
    expect(bc.critical).toBe(true);
    const [cA, pathLen] = bc.value.value as forge.asn1.Asn1[];
    expect(cA!.value).toBe('\xff');
    expect(forge.asn1.derToInteger(pathLen!.value as string)).toBe(0);
    const ku = ext.get(OIDS.keyUsage)!;
    expect(ku.critical).toBe(true);
    expect(keyUsageBits(ku.value)).toEqual([5, 6]); // keyCertSign, cRLSign
    const ski = ext.get(OIDS.subjectKeyIdentifier)!;
    expect(ski.critical).toBe(false);

    // RFC 5280 §4.2.1.2 method 1, computed independently from the SPKI with forge.
    const spki = forge.asn1.fromDer(x.publicKey.export({ type: 'spki', format: 'der' }).toString('latin1'));
    const bitString = ((spki.value as forge.asn1.Asn1[])[1]! as forge.asn1.Asn1 & { bitStringContents: string }).bitStringContents;
    const expectedSki = crypto.createHash('sha1').update(Buffer.from(bitString.slice(1), 'latin1')).digest();
    expect(Buffer.from(ski.value.value as string, 'latin1').equals(expectedSki)).toBe(true);
    expect(ca.ski.equals(expectedSki)).toBe(true);
    expect(ca.skiHex).toBe(expectedSki.toString('hex'));
  });

  it('exposes the fingerprints tools ask for', async () => {
    const ca = await loadOrCreateCa({ dir: await caDir() });
    const hex = crypto.createHash('sha256').update(ca.certDer).digest('hex').toUpperCase();
    expect(ca.sha256Fingerprint).toBe(hex.match(/../g)!.join(':'));
    const spki = ca.cert.publicKey.export({ type: 'spki', format: 'der' });
    expect(ca.spkiSha256Base64).toBe(crypto.createHash('sha256').update(spki).digest('base64'));
  });

  it('makes an EC P-256 CA on request', async () => {
    const ca = await loadOrCreateCa({ dir: await caDir(), keyType: 'ec' });
    expect(ca.keyType).toBe('ec');
    expect(ca.cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(forgeRead(ca.certDer).signatureOid).toBe(OIDS.ecdsaWithSHA256);
    expect(ca.cert.verify(ca.cert.publicKey)).toBe(true);
  });

  it('gives concurrent callers the same CA', async () => {
    const dir = await caDir();
    const cas = await Promise.all([loadOrCreateCa({ dir }), loadOrCreateCa({ dir }), loadOrCreateCa({ dir })]);
    expect(new Set(cas.map((c) => c.sha256Fingerprint)).size).toBe(1);
    expect(cas.filter((c) => c.created)).toHaveLength(1);
    expect((await fs.readdir(dir)).sort()).toEqual(['mitmlab-ca.cer', 'mitmlab-ca.key', 'mitmlab-ca.pem']);
  });

  it('refuses bad lifetimes and bad permit entries with stable codes', async () => {
    await expect(loadOrCreateCa({ dir: await caDir(), validDays: 0 })).rejects.toMatchObject({ code: 'CA_BAD_VALIDITY' });
    await expect(loadOrCreateCa({ dir: await caDir(), permit: ['a/b'] })).rejects.toMatchObject({ code: 'CA_BAD_PERMIT' });
    await expect(loadOrCreateCa({ dir: await caDir(), permit: ['10.0.0.0/33'] })).rejects.toMatchObject({ code: 'CA_BAD_PERMIT' });
  });
});

describe('loadOrCreateCa: reload and errors', () => {
  it('reloads the same CA without touching the key', async () => {
    const dir = await caDir();
    const first = await loadOrCreateCa({ dir });
    const keyBefore = await fs.readFile(first.keyPath);
    const again = await loadOrCreateCa({ dir });
    expect(again.created).toBe(false);
    expect(again.sha256Fingerprint).toBe(first.sha256Fingerprint);
    expect(again.ski.equals(first.ski)).toBe(true);
    expect(again.subjectDer.equals(first.subjectDer)).toBe(true);
    expect((await fs.readFile(first.keyPath)).equals(keyBefore)).toBe(true);
    const loaded = await loadOrCreateCa({ dir, create: false });
    expect(loaded.sha256Fingerprint).toBe(first.sha256Fingerprint);
  });

  it('re-derives a missing DER copy from the PEM', async () => {
    const dir = await caDir();
    const ca = await loadOrCreateCa({ dir });
    await fs.rm(ca.derPath);
    await loadOrCreateCa({ dir });
    expect((await fs.readFile(ca.derPath)).equals(ca.certDer)).toBe(true);
  });

  it.skipIf(!posix)('warns when the key or the folder is readable by others', async () => {
    const dir = await caDir();
    const ca = await loadOrCreateCa({ dir });
    await fs.chmod(ca.keyPath, 0o644);
    await fs.chmod(dir, 0o755);
    const again = await loadOrCreateCa({ dir });
    expect(again.warnings.join('\n')).toContain(`chmod 600 ${ca.keyPath}`);
    expect(again.warnings.join('\n')).toContain(`chmod 700 ${dir}`);
  });

  it('says how to create a missing CA when create is false', async () => {
    const dir = await caDir();
    await expect(loadOrCreateCa({ dir, create: false })).rejects.toMatchObject({ code: 'CA_MISSING', message: expect.stringContaining('mitmlab ca init') });
    await expect(fs.stat(dir)).rejects.toThrow(); // nothing was created
  });

  it('refuses a key that belongs to another certificate', async () => {
    const [a, b] = await Promise.all([loadOrCreateCa({ dir: await caDir(), keyType: 'ec' }), loadOrCreateCa({ dir: await caDir(), keyType: 'ec' })]);
    await fs.copyFile(b.keyPath, a.keyPath);
    await expect(loadOrCreateCa({ dir: a.dir })).rejects.toMatchObject({ code: 'CA_KEY_MISMATCH', message: expect.stringContaining('mitmlab ca rotate') });
  });

  it('refuses a corrupt certificate, a corrupt key and a half-present CA', async () => {
    const ca = await loadOrCreateCa({ dir: await caDir(), keyType: 'ec' });
    const pem = await fs.readFile(ca.certPath, 'utf8');
    const key = await fs.readFile(ca.keyPath, 'utf8');

    await fs.writeFile(ca.certPath, pem.replace(/[A-Za-z]{8}/, 'AAAAAAAA').slice(0, 200));
    await expect(loadOrCreateCa({ dir: ca.dir })).rejects.toMatchObject({ code: 'CA_CERT_CORRUPT', message: expect.stringContaining('rotate') });
    await fs.writeFile(ca.certPath, pem);

    await fs.writeFile(ca.keyPath, `${pemLine('BEGIN', 'PRIVATE KEY')}\nnot base64!\n${pemLine('END', 'PRIVATE KEY')}\n`);
    await expect(loadOrCreateCa({ dir: ca.dir })).rejects.toMatchObject({ code: 'CA_KEY_CORRUPT' });
    await fs.writeFile(ca.keyPath, key);

    await fs.rm(ca.keyPath);
    await expect(loadOrCreateCa({ dir: ca.dir })).rejects.toMatchObject({ code: 'CA_INCOMPLETE', message: expect.stringContaining(ca.keyPath) });
  });

  it('refuses a certificate that is not a CA', async () => {
    // A minted leaf with its own key: a matching pair, but cA is not set.
    const dir = await caDir();
    await fs.mkdir(dir, { recursive: true });
    const issuer = await loadOrCreateCa({ dir: await caDir(), keyType: 'ec' });
    const leafKey = await loadOrCreateLeafKey({ type: 'ec' });
    const leaf = mintLeaf(issuer, leafKey, [{ kind: 'dns', name: 'a.test' }]);
    await fs.writeFile(path.join(dir, CA_FILES.cert), leaf.certPem);
    await fs.writeFile(path.join(dir, CA_FILES.key), leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await expect(loadOrCreateCa({ dir })).rejects.toMatchObject({ code: 'CA_NOT_A_CA' });
  });

  it('reports an unusable folder with a code and the path', async () => {
    const base = await tempDir();
    const file = path.join(base, 'not-a-folder');
    await fs.writeFile(file, 'x');
    const dir = path.join(file, 'ca');
    await expect(loadOrCreateCa({ dir, create: false })).rejects.toMatchObject({ code: 'CA_DIR_UNREADABLE', message: expect.stringContaining(dir) });
    await expect(loadOrCreateCa({ dir })).rejects.toMatchObject({ code: 'CA_DIR_UNREADABLE' });
  });
});

describe('rotateCa', () => {
  it('archives the old CA (and its leaf keys) into a dated folder and creates a new one', async () => {
    const dir = await caDir();
    const old = await loadOrCreateCa({ dir });
    await loadOrCreateLeafKey({ dir, type: 'ec' });
    await loadOrCreateLeafKey({ dir, type: 'rsa' });
    const now = new Date('2026-11-22T05:10:00.123Z');
    const { ca, archivedTo } = await rotateCa({ dir, now });
    expect(archivedTo).toBe(path.join(old.dir, 'old-2026-11-22T05-10-00Z'));
    expect((await fs.readdir(archivedTo!)).sort()).toEqual(['mitmlab-ca.cer', 'mitmlab-ca.key', 'mitmlab-ca.pem', 'mitmlab-leaf-ec.key', 'mitmlab-leaf.key']);
    if (posix) expect(await mode(archivedTo!)).toBe(0o700);
    const archived = await loadOrCreateCa({ dir: archivedTo!, create: false });
    expect(archived.sha256Fingerprint).toBe(old.sha256Fingerprint);
    expect(ca.created).toBe(true);
    expect(ca.sha256Fingerprint).not.toBe(old.sha256Fingerprint);
    expect(ca.subject).not.toBe(old.subject); // new per-install suffix
    await expect(fs.stat(path.join(dir, CA_FILES.leafKey))).rejects.toThrow();
    await expect(fs.stat(path.join(dir, CA_FILES.leafKeyEc))).rejects.toThrow();
    const reloaded = await loadOrCreateCa({ dir, create: false });
    expect(reloaded.sha256Fingerprint).toBe(ca.sha256Fingerprint);

    const second = await rotateCa({ dir, now, keyType: 'ec' });
    expect(second.archivedTo).toBe(path.join(old.dir, 'old-2026-11-22T05-10-00Z-2'));
  });

  it('creates a CA when there is none to archive', async () => {
    const { ca, archivedTo } = await rotateCa({ dir: await caDir(), keyType: 'ec' });
    expect(archivedTo).toBeNull();
    expect(ca.created).toBe(true);
  });

  it('replaces a broken CA (rotation is the fix the errors point to)', async () => {
    const dir = await caDir();
    const old = await loadOrCreateCa({ dir, keyType: 'ec' });
    await fs.writeFile(old.certPath, 'garbage');
    const { ca, archivedTo } = await rotateCa({ dir, keyType: 'ec' });
    expect(await fs.readFile(path.join(archivedTo!, CA_FILES.cert), 'utf8')).toBe('garbage');
    expect((await loadOrCreateCa({ dir })).sha256Fingerprint).toBe(ca.sha256Fingerprint);
  });
});

describe('name constraints', () => {
  function constraints(der: Buffer): { critical: boolean; permitted: string[]; excluded: string[] } {
    const ext = forgeRead(der).extensions.find((e) => e.oid === OIDS.nameConstraints)!;
    const out = { critical: ext.critical, permitted: [] as string[], excluded: [] as string[] };
    for (const trees of ext.value.value as forge.asn1.Asn1[]) {
      const list = trees.type === 0 ? out.permitted : out.excluded;
      for (const subtree of trees.value as forge.asn1.Asn1[]) {
        const base = (subtree.value as forge.asn1.Asn1[])[0]!;
        const bytes = base.value as string;
        list.push(base.type === 2 ? `DNS:${bytes}` : `IP:${forge.util.bytesToHex(bytes)}`);
      }
    }
    return out;
  }

  it('writes a critical NameConstraints with the permitted DNS suffixes and IP ranges', async () => {
    const ca = await loadOrCreateCa({ dir: await caDir(), keyType: 'ec', permit: ['lab.test', '.corp.test', '10.1.2.3/8', 'fd00::/8'] });
    const nc = constraints(ca.certDer);
    expect(nc.critical).toBe(true);
    expect(nc.permitted).toEqual([
      'DNS:lab.test',
      'DNS:corp.test',
      'IP:0a000000ff000000',
      `IP:fd${'0'.repeat(30)}ff${'0'.repeat(30)}`,
    ]);
    expect(nc.excluded).toEqual([]);
    expect(ca.nameConstraints).toEqual(['permit DNS:lab.test', 'permit DNS:corp.test', 'permit IP:10.0.0.0/8', 'permit IP:fd00::/8']);
  });

  it('closes the name forms that were not listed', async () => {
    const dnsOnly = constraints((await loadOrCreateCa({ dir: await caDir(), keyType: 'ec', permit: ['lab.test'] })).certDer);
    expect(dnsOnly.permitted).toEqual(['DNS:lab.test']);
    expect(dnsOnly.excluded).toEqual([`IP:${'00'.repeat(8)}`, `IP:${'00'.repeat(32)}`]);
    const ipOnly = constraints((await loadOrCreateCa({ dir: await caDir(), keyType: 'ec', permit: ['127.0.0.1'] })).certDer);
    expect(ipOnly.permitted).toEqual(['DNS:invalid', 'IP:7f000001ffffffff']);
    expect(ipOnly.excluded).toEqual([]);
  });

  it('has no NameConstraints without permit', async () => {
    const ca = await loadOrCreateCa({ dir: await caDir(), keyType: 'ec' });
    expect(forgeRead(ca.certDer).extensions.some((e) => e.oid === OIDS.nameConstraints)).toBe(false);
    expect(ca.nameConstraints).toEqual([]);
  });
});
