import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateLeafKey, loadOrCreateLeafKey, loadOrCreateLeafKeys } from '../../../server/certs/leaf-key.js';
import { pemLine, tempDir } from './fixtures.js';

describe('loadOrCreateLeafKey', () => {
  it('generates an RSA-2048 key by default, persists it 0600 and reloads it', async () => {
    const dir = await tempDir();
    const key = await loadOrCreateLeafKey({ dir });
    expect(key.type).toBe('rsa');
    expect(key.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const file = path.join(dir, 'mitmlab-leaf.key');
    if (process.platform !== 'win32') expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateLeafKey({ dir });
    expect(again.spkiDer.equals(key.spkiDer)).toBe(true);
    expect(key.spkiSha256Base64).toBe(crypto.createHash('sha256').update(key.spkiDer).digest('base64'));
    expect(key.contextKeyPem).toMatch(new RegExp(`^${pemLine('BEGIN', 'RSA PRIVATE KEY')}`));
  });

  it('keeps the EC key in its own file, next to the RSA one, and replaces an unreadable one', async () => {
    const dir = await tempDir();
    const rsa = await loadOrCreateLeafKey({ dir });
    const ec = await loadOrCreateLeafKey({ dir, type: 'ec' });
    expect(ec.type).toBe('ec');
    expect(ec.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(ec.contextKeyPem).toMatch(new RegExp(`^${pemLine('BEGIN', 'EC PRIVATE KEY')}`));
    if (process.platform !== 'win32') expect((await fs.stat(path.join(dir, 'mitmlab-leaf-ec.key'))).mode & 0o777).toBe(0o600);
    expect((await loadOrCreateLeafKey({ dir })).spkiDer.equals(rsa.spkiDer)).toBe(true);
    await fs.writeFile(path.join(dir, 'mitmlab-leaf-ec.key'), 'garbage');
    const fresh = await loadOrCreateLeafKey({ dir, type: 'ec' });
    expect(fresh.spkiDer.equals(ec.spkiDer)).toBe(false);
    // A key of the other type in the file (a CA folder from before the EC file existed) is replaced too.
    await fs.copyFile(path.join(dir, 'mitmlab-leaf-ec.key'), path.join(dir, 'mitmlab-leaf.key'));
    expect((await loadOrCreateLeafKey({ dir })).type).toBe('rsa');
  });

  it('adopts the EC key an older version kept in mitmlab-leaf.key, so its SPKI hash stays valid', async () => {
    for (const choice of ['auto', 'rsa'] as const) {
      const dir = await tempDir();
      const old = await generateLeafKey('ec');
      // Written 0644 by hand: the adopted key still ends up 0600.
      await fs.writeFile(path.join(dir, 'mitmlab-leaf.key'), old.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o644 });
      const keys = await loadOrCreateLeafKeys({ dir, choice });
      expect(keys.at(-1)!.type).toBe('rsa');
      const ec = await loadOrCreateLeafKey({ dir, type: 'ec' });
      expect(ec.spkiSha256Base64, choice).toBe(old.spkiSha256Base64);
      if (process.platform !== 'win32') expect((await fs.stat(path.join(dir, 'mitmlab-leaf-ec.key'))).mode & 0o777).toBe(0o600);
    }
  });

  it('adopts the old EC key once when two starts race, and over an unreadable mitmlab-leaf-ec.key', async () => {
    const dir = await tempDir();
    const old = await generateLeafKey('ec');
    await fs.writeFile(path.join(dir, 'mitmlab-leaf.key'), old.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await fs.writeFile(path.join(dir, 'mitmlab-leaf-ec.key'), 'garbage', { mode: 0o600 });
    const [a, b] = await Promise.all([loadOrCreateLeafKeys({ dir, choice: 'auto' }), loadOrCreateLeafKeys({ dir, choice: 'auto' })]);
    expect(a[0]!.spkiSha256Base64).toBe(old.spkiSha256Base64);
    expect(b[0]!.spkiSha256Base64).toBe(old.spkiSha256Base64);
    expect(b[1]!.spkiSha256Base64).toBe(a[1]!.spkiSha256Base64); // one RSA key on disk, the one both use
  });

  it('loads both keys for --leaf-key auto, EC first, and one for rsa or ec', async () => {
    const dir = await tempDir();
    expect((await loadOrCreateLeafKeys({ dir, choice: 'auto' })).map((key) => key.type)).toEqual(['ec', 'rsa']);
    expect((await loadOrCreateLeafKeys({ dir, choice: 'rsa' })).map((key) => key.type)).toEqual(['rsa']);
    expect((await loadOrCreateLeafKeys({ dir, choice: 'ec' })).map((key) => key.type)).toEqual(['ec']);
  });

  it('keeps the key in memory only without a folder', async () => {
    const key = await loadOrCreateLeafKey({ type: 'ec' });
    expect(key.type).toBe('ec');
  });
});
