// Blob collection after a session is deleted. Blob files are shared by sessions, so a blob file goes only when no
// remaining session lists it in its blobs.txt as a file (a session holding the same bytes in its own pack does not
// need the file). Memory stays bounded by the deleted session's own refs: the other lists are
// streamed. A blob touched within the grace period is kept: a session running in another process may have just
// reused it (DiskBlobSink touches reused blobs) without having flushed its blobs.txt yet. A prefix folder left empty
// goes too; a sink that was about to write into it makes it again (DiskBlobSink retries once on ENOENT).

import { dirname } from 'node:path';
import { blobListPath, blobPath, isSha256 } from './layout.js';
import { parseBlobListLine } from './pack-format.js';
import { readLines } from './session-reader.js';
import { errorCode, type StoreFs } from './store-fs.js';

/** Deletes those `candidates` that no session in `sessionIds` references; returns how many were deleted. */
export async function collectBlobs(
  fs: StoreFs,
  dataDir: string,
  candidates: Set<string>,
  sessionIds: readonly string[],
  graceMs: number,
): Promise<number> {
  for (const id of sessionIds) {
    if (candidates.size === 0) return 0;
    try {
      for await (const line of readLines(blobListPath(dataDir, id))) {
        const entry = parseBlobListLine(line.toString('latin1'));
        // A malformed line might still name a file we need: keep it (deleting is the one thing not to get wrong).
        if (entry === null) candidates.delete(line.toString('latin1').split(' ')[0] ?? '');
        else if (entry.offset === null) candidates.delete(entry.sha256);
      }
    } catch (error) {
      // A session without a list references nothing; any other read error means we cannot be sure: keep all.
      if (errorCode(error) !== 'ENOENT') return 0;
    }
  }
  let deleted = 0;
  const now = Date.now();
  const emptied = new Set<string>();
  for (const sha of candidates) {
    if (!isSha256(sha)) continue;
    const path = blobPath(dataDir, sha);
    try {
      const { mtimeMs } = await fs.stat(path);
      if (now - mtimeMs < graceMs) continue;
      await fs.unlink(path);
      deleted++;
      emptied.add(dirname(path));
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }
  for (const dir of emptied) await removeIfEmpty(fs, dir);
  return deleted;
}

/** Removes a blob prefix folder that no longer holds anything; one still in use (ENOTEMPTY) stays as it is. */
async function removeIfEmpty(fs: StoreFs, dir: string): Promise<void> {
  try {
    await fs.rmdir(dir);
  } catch (error) {
    // ENOTEMPTY (EEXIST on some systems, POSIX rmdir(2)): other blobs live there. ENOENT: already gone.
    const code = errorCode(error);
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw error;
  }
}
