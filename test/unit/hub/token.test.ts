import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateToken, tokenPath } from '../../../server/hub/token.js';

let dir = '';
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('UI token file', () => {
  it('creates a random 256-bit token, 0600, in a new 0700 data dir, and reuses it', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-token-'));
    const dataDir = path.join(dir, 'data');
    const token = await loadOrCreateToken(dataDir);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(tokenPath(dataDir))).mode & 0o777).toBe(0o600);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect(await loadOrCreateToken(dataDir)).toBe(token);
    expect((await readFile(tokenPath(dataDir), 'utf8')).trim()).toBe(token);
    const other = path.join(dir, 'other');
    expect(await loadOrCreateToken(other)).not.toBe(token);
  });

  it('tightens a loosened token file and refuses a corrupt one', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-token-'));
    const file = tokenPath(dir);
    await writeFile(file, `${'a'.repeat(43)}\n`);
    await chmod(file, 0o644);
    expect(await loadOrCreateToken(dir)).toBe('a'.repeat(43));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await writeFile(file, 'short');
    await expect(loadOrCreateToken(dir)).rejects.toThrow(/does not hold a valid UI token/);
  });

  it('agrees with itself when two starts race', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-token-'));
    const tokens = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateToken(dir)));
    expect(new Set(tokens).size).toBe(1);
  });
});
