// The file-system calls the store makes, behind an interface so tests can inject failures (ENOSPC, EACCES) and
// prove that a failing disk never stops the proxy (issue 4 §6). Production uses node:fs/promises as is.

import { dirname } from 'node:path';
import * as fsp from 'node:fs/promises';
import { makeDirs } from './make-dirs.js';

/** An open file: positional writes only, so a retried write lands exactly where the failed one started. */
export interface StoreFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/** The subset of node:fs/promises the store uses. */
export interface StoreFs {
  mkdir(path: string, options: { recursive: true; mode?: number }): Promise<unknown>;
  open(path: string, flags: string, mode?: number): Promise<StoreFileHandle>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Uint8Array | string, options?: { mode?: number; flag?: string }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  stat(path: string): Promise<{ size: number; mtimeMs: number }>;
  utimes(path: string, atime: Date, mtime: Date): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  rm(path: string, options: { recursive: true; force: true }): Promise<void>;
  /** Removes an empty folder (ENOTEMPTY when it is not). */
  rmdir(path: string): Promise<void>;
}

/** The real file system. */
export const nodeStoreFs: StoreFs = {
  mkdir: (path, options) => makeDirs(path, options.mode ?? 0o777),
  open: async (path, flags, mode) => {
    const handle = await fsp.open(path, flags, mode);
    return {
      write: (buffer, offset, length, position) => handle.write(buffer, offset, length, position),
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      truncate: (length) => handle.truncate(length),
      stat: () => handle.stat(),
      close: () => handle.close(),
    };
  },
  readFile: (path) => fsp.readFile(path),
  writeFile: (path, data, options) => fsp.writeFile(path, data, options),
  rename: (from, to) => fsp.rename(from, to),
  stat: (path) => fsp.stat(path),
  utimes: (path, atime, mtime) => fsp.utimes(path, atime, mtime),
  unlink: (path) => fsp.unlink(path),
  readdir: (path) => fsp.readdir(path),
  rm: (path, options) => fsp.rm(path, options),
  rmdir: (path) => fsp.rmdir(path),
};

/** The errno code of a Node error (ENOENT, ENOSPC…), or null. */
export function errorCode(error: unknown): string | null {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return null;
}

/** A short, readable description of a file-system error. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** What mkdirFailure needs of the file system. */
export interface MkdirProbe {
  stat(path: string): Promise<unknown>;
  mkdir(path: string): Promise<unknown>;
  rmdir(path: string): Promise<unknown>;
}

/**
 * Why `mkdir -p path` failed, in words. Node's recursive mkdir reports ENOENT when the real cause is a read-only file
 * system or a missing permission; creating the first missing folder by itself shows the real code.
 */
export async function mkdirFailure(path: string, error: unknown, probeFs: MkdirProbe = fsp): Promise<string> {
  if (errorCode(error) !== 'ENOENT') return describeError(error);
  let missing = path;
  for (let parent = dirname(missing); parent !== missing; missing = parent, parent = dirname(parent)) {
    if (await probeFs.stat(parent).then(() => true, () => false)) break;
  }
  try {
    await probeFs.mkdir(missing);
    await probeFs.rmdir(missing);
  } catch (probe) {
    const code = errorCode(probe);
    if (code === 'EROFS') return `${dirname(missing)} is on a read-only file system (EROFS)`;
    if (code === 'EACCES' || code === 'EPERM') return `no permission to create folders in ${dirname(missing)} (${code})`;
    if (code !== 'EEXIST') return describeError(probe);
  }
  return describeError(error);
}
