// File-system helpers for secrets: atomic writes with a fixed mode, a private (0700) folder, mode checks and a
// creation lock. The CA key is written 0600 in a 0700 folder (DESIGN.md §3).

import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { makeDirs } from '../store/make-dirs.js';
import { CertError, isErrno } from './errors.js';

// POSIX permission bits mean little on Windows: checks and chmod are skipped there.
const POSIX = process.platform !== 'win32';

/** Writes a file through a temporary name and a rename, so readers never see a half-written file. */
export async function writeFileAtomic(file: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(tmp, data, { mode, flag: 'wx' });
    // The umask may have narrowed or (for 0644) kept the mode; set it exactly.
    if (POSIX) await fs.chmod(tmp, mode);
    await fs.rename(tmp, file);
  } catch (error) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** Creates the folder if needed and makes it 0700; returns a warning when its mode could not be fixed. */
export async function ensurePrivateDir(dir: string): Promise<string | null> {
  try {
    await makeDirs(dir, 0o700);
  } catch (error) {
    throw new CertError('CA_DIR_NOT_WRITABLE', `Cannot create the CA folder ${dir}: ${errorText(error)}. Choose another --ca-dir or fix the parent folder's permissions.`, { cause: error });
  }
  if (!POSIX) return null;
  try {
    await fs.chmod(dir, 0o700);
    return null;
  } catch (error) {
    return `could not make ${dir} private (chmod 700): ${errorText(error)}`;
  }
}

/** Warnings for a secret file or folder that other users can read (any group/other permission bit). */
export async function modeWarnings(keyPath: string, dir: string): Promise<string[]> {
  if (!POSIX) return [];
  const out: string[] = [];
  const key = await fs.stat(keyPath).catch(() => null);
  if (key && (key.mode & 0o077) !== 0) {
    out.push(`the CA key ${keyPath} is readable by other users (mode ${octal(key.mode)}): run chmod 600 ${keyPath}`);
  }
  const folder = await fs.stat(dir).catch(() => null);
  if (folder && (folder.mode & 0o077) !== 0) {
    out.push(`the CA folder ${dir} is open to other users (mode ${octal(folder.mode)}): run chmod 700 ${dir}`);
  }
  return out;
}

// A lock older than this was left by a process that died while creating a CA (creation takes well under a second).
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 15_000;

/** Runs `fn` holding an exclusive lock file in `dir`, so two processes never create two different CAs at once. */
export async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = path.join(dir, '.mitmlab-ca.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await fs.writeFile(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) {
        throw new CertError('CA_DIR_NOT_WRITABLE', `Cannot write in the CA folder ${dir}: ${errorText(error)}. Fix its permissions or choose another --ca-dir.`, { cause: error });
      }
      const stat = await fs.stat(lockPath).catch(() => null);
      if (stat && Date.now() - stat.mtimeMs > STALE_LOCK_MS) {
        await fs.rm(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new CertError('CA_LOCKED', `Another mitmlab process is creating the CA in ${dir}. Wait for it, or delete ${lockPath} if none is running.`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockPath, { force: true }).catch(() => undefined);
  }
}

/** Reads a file, or null when it does not exist. */
export async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw error;
  }
}

export function errorText(error: unknown): string {
  if (isErrno(error, 'EACCES', 'EPERM')) return 'permission denied';
  if (isErrno(error, 'ENOTDIR')) return 'a path component is not a folder';
  if (isErrno(error, 'EROFS')) return 'read-only file system';
  return error instanceof Error ? error.message : String(error);
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
