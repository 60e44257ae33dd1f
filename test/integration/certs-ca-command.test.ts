// `mitmlab ca init|show|export|rotate` through runCaCommand, on real folders, with openssl as the oracle for what
// it prints and exports.

import crypto, { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateCa } from '../../server/certs/ca.js';
import { loadOrCreateLeafKeys } from '../../server/certs/leaf-key.js';
import { runCaCommand, type CaSubcommand, type CaCommandOptions } from '../../server/cli/ca-command.js';
import { startMitmlab } from '../helpers/mitmlab.js';
import { opensslFingerprint } from '../helpers/openssl.js';
import { run } from '../helpers/run.js';
import { requireTools } from '../helpers/tools.js';
import { tempDir } from '../unit/certs/fixtures.js';

async function ca(sub: CaSubcommand, opts: CaCommandOptions): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCaCommand(sub, opts, { stdout: (s) => (out += s.endsWith('\n') ? s : `${s}\n`), stderr: (s) => (err += `${s}\n`) });
  return { code, out, err };
}

async function caDir(): Promise<string> {
  return path.join(await tempDir(), 'ca');
}

describe('mitmlab ca', () => {
  it('init creates the CA once, then says it exists', async () => {
    const dir = await caDir();
    const first = await ca('init', { caDir: dir });
    expect(first.code).toBe(0);
    expect(first.out).toContain(`Created the lab CA in ${dir}`);
    expect(first.out).toContain('ca/README.md');
    const pem = await fs.readFile(path.join(dir, 'mitmlab-ca.pem'), 'utf8');
    const second = await ca('init', { caDir: dir, permit: ['lab.test'] });
    expect(second.code).toBe(0);
    expect(second.out).toContain('already exists');
    expect(second.err).toContain('--ca-permit applies only when a CA is created');
    expect(await fs.readFile(path.join(dir, 'mitmlab-ca.pem'), 'utf8')).toBe(pem);
  });

  it.skipIf(!requireTools('openssl'))('show prints the path, the fingerprints openssl agrees with, and the expiry', async () => {
    const dir = await caDir();
    await ca('init', { caDir: dir, permit: ['lab.test'] });
    const shown = await ca('show', { caDir: dir });
    expect(shown.code).toBe(0);
    expect(shown.err).toBe('');
    const pem = await fs.readFile(path.join(dir, 'mitmlab-ca.pem'), 'utf8');
    expect(shown.out).toContain(path.join(dir, 'mitmlab-ca.pem'));
    expect(shown.out).toContain(`SHA-256       ${await opensslFingerprint(pem)}`);
    // SPKI hash computed with openssl, as Chromium's documentation shows it.
    const spki = await run('sh', ['-c', 'openssl x509 -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl enc -base64'], { input: pem });
    expect(shown.out).toContain(`SPKI SHA-256  ${spki.stdout.trim()}`);
    expect(shown.out).toMatch(/valid until   \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}\((364|365) days left\)/);
    expect(shown.out).toContain('constraints   permit DNS:lab.test, exclude IP:0.0.0.0/0, exclude IP:::/0');
  });

  it.skipIf(!requireTools('openssl'))('show prints the SPKI hash of each leaf key once mitmlab made them, as openssl computes it', async () => {
    const dir = await caDir();
    await ca('init', { caDir: dir });
    expect((await ca('show', { caDir: dir })).out).not.toContain('leaf SPKI');
    await loadOrCreateLeafKeys({ dir, choice: 'auto' });
    const shown = (await ca('show', { caDir: dir })).out;
    for (const [file, label] of [['mitmlab-leaf-ec.key', 'EC P-256'], ['mitmlab-leaf.key', 'RSA-2048']] as const) {
      const spki = await run('sh', ['-c', `openssl pkey -in '${path.join(dir, file)}' -pubout -outform der | openssl dgst -sha256 -binary | openssl enc -base64`]);
      expect(shown).toContain(`leaf SPKI     ${spki.stdout.trim()}  (${label}:`);
    }
    // An EC key left in mitmlab-leaf.key next to mitmlab-leaf-ec.key is not in use, and not shown.
    await fs.copyFile(path.join(dir, 'mitmlab-leaf-ec.key'), path.join(dir, 'mitmlab-leaf.key'));
    expect((await ca('show', { caDir: dir })).out.match(/leaf SPKI/g)).toHaveLength(1);
    // Alone (an older version's layout), it is the EC key the next start keeps: shown as such.
    const ecHash = /leaf SPKI {5}(\S+) {2}\(EC P-256/.exec((await ca('show', { caDir: dir })).out)![1];
    await fs.rm(path.join(dir, 'mitmlab-leaf-ec.key'));
    expect((await ca('show', { caDir: dir })).out).toContain(`leaf SPKI     ${ecHash}  (EC P-256:`);
  });

  it('show warns within 30 days of expiry and after it', async () => {
    const dir = await caDir();
    await loadOrCreateCa({ dir, validDays: 20, keyType: 'ec' });
    const soon = await ca('show', { caDir: dir });
    expect(soon.code).toBe(0);
    expect(soon.err).toMatch(/warning: the lab CA expires in 1[89] days/);
    const late = await ca('show', { caDir: dir, now: new Date(Date.now() + 40 * 86_400_000) });
    expect(late.err).toContain('warning: the lab CA expired on');
    expect(late.out).toMatch(/expired \d+ days ago/);
    const fine = await ca('show', { caDir: (await loadOrCreateCa({ dir: await caDir(), keyType: 'ec' })).dir });
    expect(fine.err).toBe('');
  });

  it('show without a CA fails and says how to make one', async () => {
    const dir = await caDir();
    const shown = await ca('show', { caDir: dir });
    expect(shown.code).toBe(1);
    expect(shown.err).toContain('mitmlab ca init');
    await expect(fs.stat(dir)).rejects.toThrow();
  });

  it('export writes PEM to stdout, PEM or DER to a file, and refuses DER on stdout', async () => {
    const dir = await caDir();
    await ca('init', { caDir: dir });
    const pem = await fs.readFile(path.join(dir, 'mitmlab-ca.pem'), 'utf8');
    const der = await fs.readFile(path.join(dir, 'mitmlab-ca.cer'));

    const toStdout = await ca('export', { caDir: dir });
    expect(toStdout.code).toBe(0);
    expect(toStdout.out).toBe(pem);

    const derFile = path.join(await tempDir(), 'ca.cer');
    const derOut = await ca('export', { caDir: dir, format: 'der', out: derFile });
    expect(derOut.code).toBe(0);
    expect((await fs.readFile(derFile)).equals(der)).toBe(true);
    expect(new X509Certificate(await fs.readFile(derFile)).fingerprint256).toBe(new X509Certificate(pem).fingerprint256);

    const pemFile = path.join(await tempDir(), 'ca.pem');
    expect((await ca('export', { caDir: dir, format: 'pem', out: pemFile })).code).toBe(0);
    expect(await fs.readFile(pemFile, 'utf8')).toBe(pem);

    const refused = await ca('export', { caDir: dir, format: 'der' });
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--out');
  });

  it('export never exposes the key', async () => {
    const dir = await caDir();
    await ca('init', { caDir: dir });
    const out = (await ca('export', { caDir: dir })).out;
    expect(out).not.toContain('PRIVATE KEY');
  });

  it('rotate archives the old CA and prints the new fingerprint', async () => {
    const dir = await caDir();
    await ca('init', { caDir: dir });
    const oldPem = await fs.readFile(path.join(dir, 'mitmlab-ca.pem'), 'utf8');
    const rotated = await ca('rotate', { caDir: dir });
    expect(rotated.code).toBe(0);
    const archived = /Archived the old lab CA to (.*)\./.exec(rotated.out)![1]!;
    expect(path.basename(archived)).toMatch(/^old-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
    expect(await fs.readFile(path.join(archived, 'mitmlab-ca.pem'), 'utf8')).toBe(oldPem);
    const newPem = await fs.readFile(path.join(dir, 'mitmlab-ca.pem'), 'utf8');
    expect(newPem).not.toBe(oldPem);
    const hex = crypto.createHash('sha256').update(new X509Certificate(newPem).raw).digest('hex').toUpperCase();
    expect(rotated.out).toContain(hex.match(/../g)!.join(':'));
    expect(rotated.out).toContain('Remove the old CA from every trust store');
    expect(rotated.out).toContain('A mitmlab already running keeps using the old CA until you restart it.');
  });

  it('rotate while mitmlab runs: its live view still hands out the CA it signs with, not the new file', async () => {
    const mitm = await startMitmlab();
    try {
      expect((await ca('rotate', { caDir: path.join(mitm.dir, 'ca') })).code).toBe(0);
      const onDisk = await fs.readFile(mitm.caPath, 'utf8');
      expect(onDisk).not.toBe(mitm.ca.certPem);
      for (const [file, expected] of [['mitmlab-ca.pem', Buffer.from(mitm.ca.certPem)], ['mitmlab-ca.cer', mitm.ca.certDer]] as const) {
        const answer = await fetch(`http://127.0.0.1:${mitm.uiPort}/api/ca/${file}`, { headers: { 'x-mitmlab-token': mitm.token! } });
        expect(answer.status).toBe(200);
        expect(Buffer.from(await answer.arrayBuffer()).equals(expected), file).toBe(true);
      }
    } finally {
      await mitm.close();
    }
  });

  it('rotate with a permit list makes a constrained CA', async () => {
    const dir = await caDir();
    await ca('init', { caDir: dir });
    const rotated = await ca('rotate', { caDir: dir, permit: ['lab.test', '10.0.0.0/8'] });
    expect(rotated.out).toContain('constraints   permit DNS:lab.test, permit IP:10.0.0.0/8');
  });

  it('reports configuration errors with exit code 1 and the fix', async () => {
    const dir = await caDir();
    await ca('init', { caDir: dir });
    const other = await loadOrCreateCa({ dir: await caDir() });
    await fs.copyFile(other.keyPath, path.join(dir, 'mitmlab-ca.key'));
    const shown = await ca('show', { caDir: dir });
    expect(shown.code).toBe(1);
    expect(shown.err).toContain('does not belong to the certificate');
    expect(shown.err).toContain('mitmlab ca rotate');
    const bad = await ca('init', { caDir: await caDir(), permit: ['a/b'] });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('ca-permit: "a/b"');
  });
});
