// The live view's token: one random secret per data directory, kept in `<data-dir>/ui-token` (0600), so the URL
// printed at start keeps working across restarts and nobody else on the machine can read it (DESIGN.md §3).

import { randomBytes } from 'node:crypto';
import { chmod, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirs } from '../store/make-dirs.js';

/** 32 random bytes, base64url: 256 bits, safe in a URL, a header and a cookie without escaping. */
const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,256}$/;

/** Path of the token file inside a data directory. */
export function tokenPath(dataDir: string): string {
  return join(dataDir, 'ui-token');
}

/** Reads the data directory's token, creating it (0600, in a 0700 directory when new) on first use. */
export async function loadOrCreateToken(dataDir: string): Promise<string> {
  const path = tokenPath(dataDir);
  const existing = await readToken(path);
  if (existing !== null) return existing;
  await makeDirs(dataDir, 0o700);
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  try {
    // 'wx' fails if another process created it meanwhile; then theirs wins and we read it back.
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.writeFile(`${token}\n`);
    } finally {
      await handle.close();
    }
    return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // The winner may not have written its token yet: wait briefly for a non-empty file.
    for (let attempt = 0; attempt < 50; attempt++) {
      const text = await readFile(path, 'utf8').catch(() => '');
      if (text.trim() !== '') break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const raced = await readToken(path);
    if (raced === null) throw new Error(`mitmlab: ${path} exists but holds no valid token; delete it to get a new one`);
    return raced;
  }
}

/** The data directory's token if it has one (never creates it): valid for the next start with the live view. */
export async function existingToken(dataDir: string): Promise<string | null> {
  return readToken(tokenPath(dataDir)).catch(() => null);
}

async function readToken(path: string): Promise<string | null> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (!TOKEN_PATTERN.test(text)) {
    throw Object.assign(new Error(`mitmlab: ${path} does not hold a valid UI token; delete it and start again`), {
      code: 'bad-ui-token',
    });
  }
  // A token file someone loosened (copied, restored from backup) is tightened again: it grants the whole live view.
  await chmod(path, 0o600).catch(() => undefined);
  return text;
}
