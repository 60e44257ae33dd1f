// Where a data directory keeps what (one place, so the store, the exports and deletion agree):
//
//   <dataDir>/sessions/<id>/events.jsonl   header line, then one ProxyEvent per line (append-only)
//   <dataDir>/sessions/<id>/blobs.txt      "<sha256> <size>" per blob file the session referenced (for deletion),
//                                          "<sha256> <size> <offset>" per blob in the session's pack
//   <dataDir>/sessions/<id>/blobs.pack     small blobs (up to 64 KiB), appended as validated records (pack-format.ts)
//   <dataDir>/sessions/<id>/meta.json      name, start, end, counts (rewritten atomically while running)
//   <dataDir>/sessions/<id>/lock           the process writing the session: pid, boot id, start time
//   <dataDir>/blobs/<sha256[0..2]>/<sha256> larger bodies and raw TLS bytes, shared by all sessions, deduplicated

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** Version of the events.jsonl format (header line `schemaVersion`). */
export const SCHEMA_VERSION = 1;

/** A store error with a stable code: configuration problems the user can fix, never a network event. */
export class StoreError extends Error {
  constructor(
    readonly code: 'session-not-found' | 'session-busy' | 'bad-session-name' | 'unsupported-schema' | 'bad-data-dir',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export function sessionsDir(dataDir: string): string {
  return join(dataDir, 'sessions');
}

export function sessionDir(dataDir: string, id: string): string {
  return join(sessionsDir(dataDir), id);
}

export function eventsPath(dataDir: string, id: string): string {
  return join(sessionDir(dataDir, id), 'events.jsonl');
}

export function blobListPath(dataDir: string, id: string): string {
  return join(sessionDir(dataDir, id), 'blobs.txt');
}

export function packPath(dataDir: string, id: string): string {
  return join(sessionDir(dataDir, id), 'blobs.pack');
}

export function metaPath(dataDir: string, id: string): string {
  return join(sessionDir(dataDir, id), 'meta.json');
}

export function lockPath(dataDir: string, id: string): string {
  return join(sessionDir(dataDir, id), 'lock');
}

export function blobsDir(dataDir: string): string {
  return join(dataDir, 'blobs');
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** True for a lowercase hex SHA-256: anything else never reaches a path (refs can come from REST requests). */
export function isSha256(value: string): boolean {
  return SHA256_HEX.test(value);
}

export function blobPath(dataDir: string, sha256: string): string {
  return join(blobsDir(dataDir), sha256.slice(0, 2), sha256);
}

// Ids sort by start time as plain strings: ISO 8601 UTC with ':' replaced (not allowed in Windows file names),
// plus 4 random hex digits so two sessions started in the same second do not collide.
const SESSION_ID = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-f]{4}$/;

/** A new session id for a session starting at `now` (ms since epoch), e.g. `2026-11-22T05-10-00Z-ab12`. */
export function newSessionId(now: number): string {
  const stamp = new Date(now).toISOString().slice(0, 19).replaceAll(':', '-');
  return `${stamp}Z-${randomBytes(2).toString('hex')}`;
}

/** True when `value` has the shape of a session id (and so is safe as a directory name). */
export function isSessionId(value: string): boolean {
  return SESSION_ID.test(value);
}

/** Validates a --session NAME: printable, at most 100 characters. Names live in meta.json, never in paths. */
export function checkSessionName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > 100 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new StoreError('bad-session-name', `--session must be 1 to 100 printable characters, got ${JSON.stringify(name)}.`);
  }
}
