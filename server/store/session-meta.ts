// meta.json: what `mitmlab sessions` lists without reading the event log. Rewritten atomically (temp + rename)
// about once a second while the session runs, so after a crash it lags the log by at most that much.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { metaPath, SCHEMA_VERSION, sessionDir } from './layout.js';
import type { StoreFs } from './store-fs.js';

export interface SessionMeta {
  schemaVersion: number;
  id: string;
  /** --session NAME, or null. */
  name: string | null;
  /** ms since epoch. */
  startedAt: number;
  /** Set by a clean close; null while running or after a crash. */
  endedAt: number | null;
  /** Time of the last event recorded. */
  lastEventAt: number | null;
  /** Flow rows created (HTTP and WebSocket flows, tunnels, failed handshakes). */
  flowCount: number;
  eventCount: number;
  /** Bytes of events.jsonl. */
  eventBytes: number;
  /** Bytes of the blobs this session references (each counted once per session, though shared on disk). */
  blobBytes: number;
}

/** A fresh meta record. */
export function newMeta(id: string, name: string | null, startedAt: number): SessionMeta {
  return {
    schemaVersion: SCHEMA_VERSION,
    id,
    name,
    startedAt,
    endedAt: null,
    lastEventAt: null,
    flowCount: 0,
    eventCount: 0,
    eventBytes: 0,
    blobBytes: 0,
  };
}

/** Reads meta.json, or null when missing or unreadable. */
export async function readMeta(fs: StoreFs, dataDir: string, id: string): Promise<SessionMeta | null> {
  try {
    const value = JSON.parse((await fs.readFile(metaPath(dataDir, id))).toString()) as Partial<SessionMeta>;
    if (typeof value !== 'object' || value === null || value.id !== id || typeof value.startedAt !== 'number') return null;
    return { ...newMeta(id, null, value.startedAt), ...value };
  } catch {
    return null;
  }
}

const META_TEMP = /^meta\.json\.tmp-[0-9a-f]{8}$/;

/** Writes meta.json atomically. */
export async function writeMeta(fs: StoreFs, dataDir: string, meta: SessionMeta): Promise<void> {
  const path = metaPath(dataDir, meta.id);
  const temp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(temp, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
    await fs.rename(temp, path);
  } catch (error) {
    await fs.unlink(temp).catch(() => {});
    throw error;
  }
}

/**
 * Removes the temporary meta files a killed process left in a session's folder (written, never renamed). Only the
 * holder of the session's lock writes there, so any it finds are leftovers.
 */
export async function removeMetaLeftovers(fs: StoreFs, dataDir: string, id: string): Promise<void> {
  const dir = sessionDir(dataDir, id);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((name) => META_TEMP.test(name)).map((name) => fs.unlink(join(dir, name)).catch(() => {})));
}
