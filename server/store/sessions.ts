// Session management over a data directory: list, resolve `latest`/a name, load, delete, keep the newest N.
// The same functions serve `mitmlab sessions`, `mitmlab export` and the live view's REST API.

import { applyEvent, createFlowIndex } from '../protocol/flow-reducer.js';
import { collectBlobs } from './blob-gc.js';
import {
  blobListPath,
  eventsPath,
  isSessionId,
  lockPath,
  sessionDir,
  sessionsDir,
  StoreError,
} from './layout.js';
import { parseBlobListLine } from './pack-format.js';
import { SessionBlobs } from './session-blobs.js';
import { newMeta, readMeta, type SessionMeta } from './session-meta.js';
import { openEventLog, readLines, type EventLogReader, type ReadLogOptions } from './session-reader.js';
import { errorCode, nodeStoreFs, type StoreFs } from './store-fs.js';
import { identityAlive, parseIdentity, type ProcessIdentity } from './process-identity.js';

/** One row of `mitmlab sessions`. */
export interface SessionInfo extends SessionMeta {
  /** live: a running mitmlab writes it; closed: ended cleanly; interrupted: its writer died (crash, kill -9). */
  state: 'live' | 'closed' | 'interrupted';
  /** events.jsonl bytes on disk plus the blobs it references. */
  bytes: number;
}

/** Ids of all sessions, oldest first (ids sort by start time). */
export async function sessionIds(dataDir: string, fs: StoreFs = nodeStoreFs): Promise<string[]> {
  try {
    return (await fs.readdir(sessionsDir(dataDir))).filter(isSessionId).sort();
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Sessions that have an event log, oldest first. A folder without one holds no record (a start that failed before
 * writing it, on a full disk say): it is never "latest", never found by name, and never counts for --retain.
 */
export async function recordedSessionIds(dataDir: string, fs: StoreFs = nodeStoreFs): Promise<string[]> {
  const recorded: string[] = [];
  for (const id of await sessionIds(dataDir, fs)) {
    if (await fs.stat(eventsPath(dataDir, id)).then(() => true, () => false)) recorded.push(id);
  }
  return recorded;
}

/** Lists every session, oldest first. */
export async function listSessions(dataDir: string, fs: StoreFs = nodeStoreFs): Promise<SessionInfo[]> {
  const infos: SessionInfo[] = [];
  for (const id of await sessionIds(dataDir, fs)) {
    const info = await sessionInfo(dataDir, id, fs);
    if (info) infos.push(info);
  }
  return infos;
}

/** Meta, state and size of one session, or null when it has no event log. */
export async function sessionInfo(dataDir: string, id: string, fs: StoreFs = nodeStoreFs): Promise<SessionInfo | null> {
  let eventBytes: number;
  try {
    eventBytes = (await fs.stat(eventsPath(dataDir, id))).size;
  } catch {
    return null;
  }
  const saved = await readMeta(fs, dataDir, id);
  const meta = saved ?? (await metaFromHeader(dataDir, id));
  const live = await isLive(dataDir, id, fs);
  // Without meta.json (missing or damaged) the clean end it records is unknown; the lock tells: a stop removes it, a
  // crash leaves it behind.
  const endedWithoutMeta = !saved && !live && !(await fs.stat(lockPath(dataDir, id)).then(() => true, () => false));
  const state = live ? 'live' : meta.endedAt !== null || endedWithoutMeta ? 'closed' : 'interrupted';
  // meta.json is rewritten about once a second: after a crash it lags the log. Count from the log itself then, as for
  // a rebuilt one (bounded: a huge log keeps the last counts saved).
  if ((state === 'interrupted' || !saved) && !live && eventBytes !== meta.eventBytes && eventBytes <= RECOUNT_MAX_BYTES) {
    Object.assign(meta, await countsFromLog(dataDir, id));
  }
  // Its end is then the last event's time (or the start, for an empty log).
  if (endedWithoutMeta) meta.endedAt = meta.lastEventAt ?? meta.startedAt;
  return { ...meta, eventBytes, state, bytes: eventBytes + meta.blobBytes };
}

/** Largest log `sessions` reads to correct an interrupted session's counts. */
const RECOUNT_MAX_BYTES = 64 * 1024 * 1024;

/** Event and flow counts, and the last event's time, as the log holds them (the way a continued session counts). */
async function countsFromLog(dataDir: string, id: string): Promise<Pick<SessionMeta, 'eventCount' | 'flowCount' | 'lastEventAt'>> {
  const reader = await openEventLog(eventsPath(dataDir, id), { onWarning: () => {} });
  const index = createFlowIndex();
  let eventCount = 0;
  let lastEventAt: number | null = null;
  for await (const event of reader.events) {
    applyEvent(index, event);
    eventCount++;
    lastEventAt = event.at;
  }
  return { eventCount, flowCount: index.created, lastEventAt };
}

/** Metadata rebuilt from the log's header line and blobs.txt, for a session whose meta.json is missing (a crash in its first second) or damaged. */
export async function metaFromHeader(dataDir: string, id: string): Promise<SessionMeta> {
  const reader = await openEventLog(eventsPath(dataDir, id)).catch(() => null);
  await reader?.events.return(undefined);
  const header = reader?.header?.session;
  const meta = newMeta(id, header?.name ?? null, header?.startedAt ?? startFromId(id));
  try {
    for await (const line of readLines(blobListPath(dataDir, id))) meta.blobBytes += parseBlobListLine(line.toString('latin1'))?.size ?? 0;
  } catch {
    // No blobs.txt: no bodies.
  }
  return meta;
}

function startFromId(id: string): number {
  const stamp = id.slice(0, 19).replace(/T(\d\d)-(\d\d)-(\d\d)/, 'T$1:$2:$3');
  const at = Date.parse(`${stamp}Z`);
  return Number.isNaN(at) ? 0 : at;
}

/**
 * The id a user's reference means: `latest` (the newest session), an id, or a --session NAME (its newest session).
 * Throws StoreError('session-not-found').
 */
export async function resolveSession(dataDir: string, ref: string, fs: StoreFs = nodeStoreFs): Promise<string> {
  const ids = await recordedSessionIds(dataDir, fs);
  if (ref === 'latest') {
    const newest = ids.at(-1);
    if (newest) return newest;
    throw new StoreError('session-not-found', `No sessions in ${sessionsDir(dataDir)} yet: run \`mitmlab start\` first.`);
  }
  if (ids.includes(ref)) return ref;
  for (let i = ids.length - 1; i >= 0; i--) {
    // A damaged meta.json still leaves the name in the log's header line, as `sessions` shows it.
    const meta = (await readMeta(fs, dataDir, ids[i]!)) ?? (await metaFromHeader(dataDir, ids[i]!));
    if (meta.name === ref) return ids[i]!;
  }
  throw new StoreError('session-not-found', `No session "${ref}" in ${sessionsDir(dataDir)}: \`mitmlab sessions\` lists them.`);
}

/** A stored session opened for reading. */
export interface LoadedSession {
  id: string;
  info: SessionInfo;
  /** Streams the header and events (bounded memory); torn and corrupt lines are skipped with a warning. */
  open(options?: ReadLogOptions): Promise<EventLogReader>;
  /** A body or raw-bytes blob by SHA-256, or null when not stored. */
  blob(sha256: string): Promise<Buffer | null>;
  /** Closes the session's pack file now (it also closes itself after a short idle time). */
  close(): Promise<void>;
}

/** Opens a stored session (`latest`, an id or a name) for reading. */
export async function loadSession(dataDir: string, ref: string, fs: StoreFs = nodeStoreFs): Promise<LoadedSession> {
  const id = await resolveSession(dataDir, ref, fs);
  const info = await sessionInfo(dataDir, id, fs);
  if (!info) throw new StoreError('session-not-found', `Session ${id} has no event log.`);
  const blobs = new SessionBlobs(fs, dataDir, id);
  return {
    id,
    info,
    open: (options) => openEventLog(eventsPath(dataDir, id), options),
    blob: (sha256) => blobs.blob(sha256),
    close: () => blobs.close(),
  };
}

/** True when a running process holds the session's lock (not merely a process that got the same pid since). */
export async function isLive(dataDir: string, id: string, fs: StoreFs = nodeStoreFs): Promise<boolean> {
  let holder: ProcessIdentity | null;
  try {
    holder = parseIdentity((await fs.readFile(lockPath(dataDir, id))).toString());
  } catch {
    return false;
  }
  return holder !== null && identityAlive(holder);
}

export interface DeleteOptions {
  fs?: StoreFs;
  /** Blobs touched more recently than this are kept even if unreferenced (a live session may be about to list them). */
  blobGraceMs?: number;
}

/** Default grace for unreferenced blobs: longer than any flush interval by far. */
export const BLOB_GRACE_MS = 10 * 60 * 1000;

/** Deletes a session and the blobs no other session references. Refuses a live session. */
export async function deleteSession(dataDir: string, id: string, options: DeleteOptions = {}): Promise<void> {
  const fs = options.fs ?? nodeStoreFs;
  if (!isSessionId(id) || !(await sessionIds(dataDir, fs)).includes(id)) {
    throw new StoreError('session-not-found', `No session ${id} in ${sessionsDir(dataDir)}.`);
  }
  if (await isLive(dataDir, id, fs)) {
    throw new StoreError('session-busy', `Session ${id} is being recorded by a running mitmlab; stop it first.`);
  }
  const candidates = await blobRefs(blobListPath(dataDir, id));
  await fs.rm(sessionDir(dataDir, id), { recursive: true, force: true });
  await collectBlobs(fs, dataDir, candidates, await sessionIds(dataDir, fs), options.blobGraceMs ?? BLOB_GRACE_MS);
}

/** Keeps the newest `keep` sessions (live ones and `exclude` always stay); returns the ids deleted. */
export async function applyRetention(
  dataDir: string,
  keep: number,
  options: DeleteOptions & { exclude?: string; onWarning?: (message: string) => void } = {},
): Promise<string[]> {
  const fs = options.fs ?? nodeStoreFs;
  const ids = await recordedSessionIds(dataDir, fs);
  const deleted: string[] = [];
  // The newest `keep` stay. Of the older ones, a session being recorded (this process's or another's) stays too:
  // it is never deleted, and never makes a newer one go in its place.
  for (const id of ids.slice(0, Math.max(0, ids.length - Math.max(0, keep)))) {
    if (id === options.exclude || (await isLive(dataDir, id, fs))) continue;
    try {
      await deleteSession(dataDir, id, options);
      deleted.push(id);
    } catch (error) {
      options.onWarning?.(`could not delete session ${id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return deleted;
}

/** The blob files a blobs.txt lists (empty when missing); blobs in the session's own pack go with its folder. */
export async function blobRefs(path: string): Promise<Set<string>> {
  const refs = new Set<string>();
  try {
    for await (const line of readLines(path)) {
      const entry = parseBlobListLine(line.toString('latin1'));
      if (entry && entry.offset === null) refs.add(entry.sha256);
    }
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
  return refs;
}
