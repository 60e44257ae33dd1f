// The live session: persists every ProxyEvent from the bus to events.jsonl, stores captured bytes as shared blobs,
// and keeps the bounded in-memory flow list. Writes are batched and flushed every `flushIntervalMs` (100 ms) and on
// close, so kill -9 loses at most the last fraction of a second (issue 4 §2).
//
// A failing disk (ENOSPC, EACCES…) never reaches the proxy: the store emits one `store-error`, warns once, keeps a
// bounded buffer, retries with backoff, and resumes where it stopped, losing nothing it had accepted (issue 4 §6).

import type { EventBus } from '../events/bus.js';
import type { BlobSink } from '../events/blob-sink.js';
import type { ProxyEvent } from '../protocol/events.js';
import { applyEvent, createFlowIndex, DEFAULT_FLOW_CAP, flowList, type FlowIndex } from '../protocol/flow-reducer.js';
import type { FlowSummary } from '../protocol/flows.js';
import { AppendLog } from './append-log.js';
import { BlobPack } from './blob-pack.js';
import { DiskBlobSink, PACK_MAX_BYTES } from './disk-blob-sink.js';
import {
  blobListPath,
  blobsDir,
  checkSessionName,
  eventsPath,
  lockPath,
  newSessionId,
  packPath,
  SCHEMA_VERSION,
  sessionDir,
  sessionsDir,
  StoreError,
} from './layout.js';
import { formatBlobListLine, PACK_RECORD_MAX_BYTES } from './pack-format.js';
import { findPackedBlob, listedPackEntries } from './session-blobs.js';
import { newMeta, readMeta, removeMetaLeftovers, writeMeta, type SessionMeta } from './session-meta.js';
import { openEventLog, type SessionHeader } from './session-reader.js';
import { applyRetention, isLive, metaFromHeader, resolveSession, sessionIds } from './sessions.js';
import { describeError, errorCode, mkdirFailure, nodeStoreFs, type StoreFs } from './store-fs.js';
import { ownIdentity } from './process-identity.js';

export interface SessionStoreOptions {
  /** --data-dir (default ./data in the CLI). */
  dataDir: string;
  /** --session NAME: continues the newest session with this name (or this id), else starts a session so named. */
  session?: string;
  /** Flow summaries kept in memory (default 50,000); older ones stay on disk only. */
  flowCap?: number;
  /** --retain N: after opening, delete all but the newest N sessions (this one included). */
  retain?: number;
  /** File system (tests inject failures). */
  fs?: StoreFs;
  /** Told about disk trouble and damaged files: once per outage, not once per failed write. */
  onWarning?: (message: string) => void;
  /** Flush period in ms (default 100; at most 250 keeps the kill -9 promise). */
  flushIntervalMs?: number;
  /** Event bytes buffered while the disk refuses writes (default 64 MiB); later events are dropped and counted. */
  maxBufferBytes?: number;
  /** Blob bytes buffered while unwritten (default 256 MiB); later blobs are dropped and counted. */
  maxPendingBlobBytes?: number;
  /** Blobs up to this size go to the session's pack file (default 64 KiB, at most 1 MiB); 0 gives every blob its own file. */
  packMaxBytes?: number;
  /** Blobs the pack indexes at most (default 250,000, ~40 MB of index); later small blobs get files. */
  maxPackIndexEntries?: number;
  /** Clock (tests). */
  now?: () => number;
}

const META_INTERVAL_MS = 1000;
const MAX_PACK_INDEX_ENTRIES = 250_000;
const MAX_RETRY_DELAY_MS = 2000;

export class SessionStore {
  /** Session id, e.g. 2026-11-22T05-10-00Z-ab12. */
  readonly id: string;
  readonly dataDir: string;
  /** Where the proxy core puts bodies and raw TLS bytes. */
  readonly blobs: BlobSink;
  /** The in-memory flow rows (bounded); shared with the hub for snapshots. */
  readonly index: FlowIndex;

  readonly #fs: StoreFs;
  readonly #events: AppendLog;
  readonly #blobList: AppendLog;
  readonly #blobSink: DiskBlobSink;
  readonly #pack: BlobPack | null;
  readonly #meta: SessionMeta;
  readonly #warn: (message: string) => void;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  readonly #maxBufferBytes: number;
  #bus: EventBus | null = null;
  #unsubscribe: (() => void) | null = null;
  #chain: Promise<void> = Promise.resolve();
  #blobDrain: Promise<void> | null = null;
  #blobError: unknown = null;
  #ticking = false;
  #failing = false;
  #retryDelay = 0;
  #nextAttemptAt = 0;
  #lastMetaAt = 0;
  #metaDirty = true;
  #droppedBlobs = 0;
  #closed = false;
  #lastConnNumber = 0;

  private constructor(init: {
    id: string;
    dataDir: string;
    fs: StoreFs;
    events: AppendLog;
    blobList: AppendLog;
    blobSink: DiskBlobSink;
    pack: BlobPack | null;
    meta: SessionMeta;
    index: FlowIndex;
    warn: (message: string) => void;
    now: () => number;
    flushIntervalMs: number;
    maxBufferBytes: number;
  }) {
    this.id = init.id;
    this.dataDir = init.dataDir;
    this.#fs = init.fs;
    this.#events = init.events;
    this.#blobList = init.blobList;
    this.#blobSink = init.blobSink;
    this.#pack = init.pack;
    this.blobs = init.blobSink;
    this.#meta = init.meta;
    this.index = init.index;
    this.#warn = init.warn;
    this.#now = init.now;
    this.#maxBufferBytes = init.maxBufferBytes;
    this.#timer = setInterval(() => void this.#tick(), init.flushIntervalMs);
    this.#timer.unref();
  }

  /** Opens (creating, or continuing with `session`) a session under `dataDir`. Throws StoreError on bad options. */
  static async open(options: SessionStoreOptions): Promise<SessionStore> {
    const fs = options.fs ?? nodeStoreFs;
    const now = options.now ?? Date.now;
    const warn = options.onWarning ?? ((message: string) => console.warn(`mitmlab: ${message}`));
    const dataDir = options.dataDir;
    const flushIntervalMs = Math.min(250, Math.max(10, options.flushIntervalMs ?? 100));
    const maxBufferBytes = options.maxBufferBytes ?? 64 * 1024 * 1024;
    const ensureDir = async (path: string): Promise<void> => {
      try {
        await fs.mkdir(path, { recursive: true, mode: 0o700 });
      } catch (error) {
        throw new StoreError('bad-data-dir', `Cannot write to the data directory ${dataDir}: ${await mkdirFailure(path, error)}. Choose another with --data-dir.`);
      }
    };
    await ensureDir(sessionsDir(dataDir));
    await ensureDir(blobsDir(dataDir));

    // --session NAME continues that session; otherwise a new one starts.
    let id: string | null = null;
    if (options.session !== undefined) {
      checkSessionName(options.session);
      id = await resolveSession(dataDir, options.session, fs).catch((error: unknown) => {
        if (error instanceof StoreError && error.code === 'session-not-found') return null;
        throw error;
      });
    }
    const continuing = id !== null;
    const startedAt = now();
    id ??= newSessionId(startedAt);
    await ensureDir(sessionDir(dataDir, id));

    try {
      await acquireLock(fs, dataDir, id);
      if (continuing) await removeMetaLeftovers(fs, dataDir, id);
      let meta = continuing ? await readMeta(fs, dataDir, id) : null;
      if (continuing && meta === null) {
        // A missing or damaged meta.json: the name and start are in the log's header (the counts come from the log).
        warn(`session ${id}: meta.json was missing or unreadable; rebuilt from the event log`);
        meta = await metaFromHeader(dataDir, id);
      }
      meta ??= newMeta(id, options.session ?? null, startedAt);
      meta.endedAt = null;
      const events = await AppendLog.open(fs, eventsPath(dataDir, id), { maxBufferBytes }, (bytes) =>
        warn(`session ${id}: the last line of events.jsonl was cut off by an unclean shutdown; dropped ${bytes} bytes`),
      );
      const blobList = await AppendLog.open(fs, blobListPath(dataDir, id), { maxBufferBytes: 16 * 1024 * 1024 });
      const index = createFlowIndex(options.flowCap ?? DEFAULT_FLOW_CAP);
      let lastConn = 0;
      if (events.size === 0) {
        const header: SessionHeader = { schemaVersion: SCHEMA_VERSION, session: { id, name: meta.name, startedAt: meta.startedAt } };
        events.append(JSON.stringify(header));
        await events.flush();
      } else {
        // Continuing: rebuild the in-memory rows (bounded by the cap) and the counts from the log itself.
        const reader = await openEventLog(eventsPath(dataDir, id), { onWarning: warn });
        meta.eventCount = 0;
        for await (const event of reader.events) {
          applyEvent(index, event);
          meta.eventCount++;
          meta.lastEventAt = event.at;
          if (event.type === 'connection-open') {
            const match = /^c(\d+)$/.exec(event.conn);
            if (match) lastConn = Math.max(lastConn, Number(match[1]));
          }
        }
        meta.flowCount = index.created;
      }
      meta.eventBytes = events.size;
      // Readers refuse records beyond PACK_RECORD_MAX_BYTES (a damaged length must not make them allocate gigabytes).
      const packMaxBytes = Math.min(PACK_RECORD_MAX_BYTES, Math.max(0, options.packMaxBytes ?? PACK_MAX_BYTES));
      let pack: BlobPack | null = null;
      if (packMaxBytes > 0) {
        // Continuing: the pack's index comes from the entries blobs.txt lists (plus whole records a crash left
        // unlisted); a torn tail is cut off so new records never follow it.
        const opened = await BlobPack.open(fs, packPath(dataDir, id), continuing ? listedPackEntries(blobListPath(dataDir, id)) : [], {
          maxIndexEntries: options.maxPackIndexEntries ?? MAX_PACK_INDEX_ENTRIES,
          // Listed only once on disk, so blobs.txt never names a record that is not there.
          onWritten: (entries) => {
            for (const entry of entries) {
              blobList.append(formatBlobListLine(entry.sha256, entry.size, entry.offset));
              meta.blobBytes += entry.size;
            }
          },
        });
        pack = opened.pack;
        if (opened.tornBytes > 0) warn(`session ${id}: the end of blobs.pack was cut off by an unclean shutdown; dropped ${opened.tornBytes} bytes`);
        for (const entry of opened.recovered) {
          blobList.append(formatBlobListLine(entry.sha256, entry.size, entry.offset));
          meta.blobBytes += entry.size;
        }
      }
      let store: SessionStore | null = null;
      const blobSink = new DiskBlobSink(fs, dataDir, {
        maxPendingBytes: options.maxPendingBlobBytes ?? 256 * 1024 * 1024,
        onReference: (sha256, size) => {
          blobList.append(formatBlobListLine(sha256, size, null));
          meta.blobBytes += size;
        },
        onDrop: () => {
          if (store) store.#droppedBlobs++;
        },
        ...(pack ? { pack, packMaxBytes } : {}),
        // The live view fetches bodies by SHA-256 alone, for past sessions too: their small blobs are in their packs.
        fallback: async (sha256) => {
          const others = (await sessionIds(dataDir, fs)).filter((other) => other !== id).reverse();
          return findPackedBlob(fs, dataDir, sha256, others);
        },
      });
      store = new SessionStore({ id, dataDir, fs, events, blobList, blobSink, pack, meta, index, warn, now, flushIntervalMs, maxBufferBytes });
      store.#lastConnNumber = lastConn;
      await writeMeta(fs, dataDir, meta);
      if (options.retain !== undefined) {
        await applyRetention(dataDir, options.retain, { fs, exclude: id, onWarning: warn });
      }
      return store;
    } catch (error) {
      if (error instanceof StoreError && error.code === 'session-busy') throw error; // the lock is another's
      // A new session that could not start (a full disk) leaves no folder behind: an empty one would become
      // "latest". A continued one keeps what it had recorded.
      if (continuing) await fs.unlink(lockPath(dataDir, id)).catch(() => {});
      else await fs.rm(sessionDir(dataDir, id), { recursive: true, force: true }).catch(() => {});
      if (error instanceof StoreError) throw error;
      const code = errorCode(error);
      throw new StoreError('bad-data-dir', `Cannot ${continuing ? 'continue' : 'start'} session ${id} in ${dataDir}${code ? ` (${code})` : ''}: ${describeError(error)}.`);
    }
  }

  /**
   * Highest N among connection ids `cN` recorded in this session (0 for a new one). A process continuing a session
   * must number its connections after it, or flow ids of two runs would collide in one log.
   */
  get lastConnNumber(): number {
    return this.#lastConnNumber;
  }

  /** The session's name (--session), or null. */
  get name(): string | null {
    return this.#meta.name;
  }

  /** A copy of the current metadata. */
  meta(): SessionMeta {
    return { ...this.#meta, eventBytes: this.#events.size };
  }

  /** True while the disk refuses writes. */
  get failing(): boolean {
    return this.#failing;
  }

  /** Subscribes to the bus: every event is persisted; store-error events are emitted on it. Returns the detacher. */
  attach(bus: EventBus): () => void {
    this.#unsubscribe?.();
    this.#bus = bus;
    this.#unsubscribe = bus.subscribe((event) => this.record(event));
    return () => {
      this.#unsubscribe?.();
      this.#unsubscribe = null;
      this.#bus = null;
    };
  }

  /** Persists one event and folds it into the flow list (what attach() calls for each bus event). */
  record(event: ProxyEvent): void {
    if (this.#closed) return;
    this.#append(event);
  }

  #append(event: ProxyEvent): void {
    // The store's own error records are few and small: they pass even a full buffer, so the outage stays on record.
    this.#events.append(JSON.stringify(event), event.type === 'store-error');
    this.#meta.eventCount++;
    this.#meta.lastEventAt = event.at;
    applyEvent(this.index, event);
    this.#meta.flowCount = this.index.created;
    this.#metaDirty = true;
    if (event.type === 'connection-open') this.#noteConn(event.conn);
  }

  #noteConn(conn: string): void {
    const match = /^c(\d+)$/.exec(conn);
    if (match) this.#lastConnNumber = Math.max(this.#lastConnNumber, Number(match[1]));
  }

  /** The flow rows in memory, oldest first. */
  flows(): FlowSummary[] {
    return flowList(this.index);
  }

  /** Writes everything recorded so far. Rejects when the disk refuses (data stays buffered; the timer retries). */
  async flush(): Promise<void> {
    if (this.#bus) await this.#bus.flushed();
    await this.#flushOnce();
  }

  /** Flushes, writes the final metadata and releases the session. Never throws; reports unwritten data via onWarning. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#bus) await this.#bus.flushed();
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#bus = null;
    clearInterval(this.#timer);
    this.#closed = true;
    let lastError: unknown = null;
    // A few quick tries: a disk that just filled may have been freed; a dead one must not hang shutdown.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#flushOnce();
        lastError = null;
        break;
      } catch (error) {
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    if (lastError !== null) {
      this.#warn(
        `session ${this.id}: ${this.#events.bufferedBytes} bytes of events and ${this.#blobSink.pendingBytes} bytes of bodies could not be written (${describeError(lastError)})`,
      );
    }
    // The last write may have reported what the buffer dropped (a store-error line queued after it): write that too,
    // so the size on record counts it.
    if (lastError === null) await this.#events.flush().catch(() => {});
    this.#meta.endedAt = this.#now();
    this.#meta.eventBytes = this.#events.size;
    await writeMeta(this.#fs, this.dataDir, this.#meta).catch(() => {});
    await this.#events.close().catch(() => {});
    // The pack before the list: its last write (if the flush above failed) lists records in blobs.txt.
    await this.#pack?.close().catch(() => {});
    await this.#blobList.close().catch(() => {});
    await this.#fs.unlink(lockPath(this.dataDir, this.id)).catch(() => {});
  }

  async #tick(): Promise<void> {
    if (this.#ticking || this.#closed) return;
    if (this.#failing && this.#now() < this.#nextAttemptAt) return;
    this.#ticking = true;
    await this.#flushOnce(false).catch(() => {});
    this.#ticking = false;
  }

  /** One flush of the blob list and the events; chained so ticks and explicit flushes never overlap. */
  #flushOnce(withBlobs = true): Promise<void> {
    const run = this.#chain.then(() => this.#writeAll(withBlobs));
    this.#chain = run.catch(() => {});
    return run;
  }

  /**
   * Blobs drain in the background, never ahead of the event lines: large bodies cost a file each, and events must
   * not wait behind them (the kill -9 promise is about events). Small blobs cost one pack append per drain, so they
   * reach the disk at the events' pace. After a crash an event may name a body that did not reach the disk; exports
   * say "not stored" instead of failing. (A pack record whose blobs.txt line was lost is still found: readers walk
   * the pack past its last listed record.)
   */
  #startBlobDrain(): Promise<void> {
    if (this.#blobDrain) return this.#blobDrain;
    const run = this.#blobSink.drain().then(
      () => {
        this.#blobError = null;
      },
      (error: unknown) => {
        this.#blobError = error;
      },
    );
    this.#blobDrain = run.finally(() => {
      this.#blobDrain = null;
      // More arrived while writing: keep going unless the disk refuses (then the ticks retry with backoff).
      if (this.#blobError === null && this.#blobSink.pendingCount > 0 && !this.#closed) void this.#startBlobDrain();
    });
    return this.#blobDrain;
  }

  async #writeAll(withBlobs: boolean): Promise<void> {
    const blobs = this.#startBlobDrain();
    let failure: unknown = null;
    try {
      await this.#blobList.flush();
      await this.#events.flush();
    } catch (error) {
      failure = error;
    }
    if (withBlobs) {
      await blobs;
      // Blobs put while that drain ran.
      if (this.#blobError === null && this.#blobSink.pendingCount > 0) await this.#startBlobDrain();
      // The pack's records just written are listed now, so the session is complete on disk when this resolves.
      try {
        await this.#blobList.flush();
      } catch (error) {
        failure ??= error;
      }
    }
    failure ??= this.#blobError;
    if (failure !== null) {
      this.#onFailure(failure);
      throw failure;
    }
    this.#onSuccess();
    if (this.#metaDirty && this.#now() - this.#lastMetaAt >= META_INTERVAL_MS) {
      this.#metaDirty = false;
      this.#lastMetaAt = this.#now();
      this.#meta.eventBytes = this.#events.size;
      await writeMeta(this.#fs, this.dataDir, this.#meta).catch(() => {
        this.#metaDirty = true;
      });
    }
  }

  #onFailure(error: unknown): void {
    this.#retryDelay = Math.min(MAX_RETRY_DELAY_MS, Math.max(100, this.#retryDelay * 2));
    this.#nextAttemptAt = this.#now() + this.#retryDelay;
    if (this.#failing) return;
    this.#failing = true;
    const code = errorCode(error);
    const message =
      `Cannot write session ${this.id} to ${this.dataDir}${code ? ` (${code})` : ''}: ${describeError(error)}. ` +
      `Proxying continues; up to ${Math.round(this.#maxBufferBytes / (1024 * 1024))} MiB of events are kept in memory and written once the disk accepts writes again.`;
    this.#warn(message);
    this.#emitStoreError(message);
  }

  #onSuccess(): void {
    const droppedEvents = this.#events.takeDropped();
    const droppedBlobs = this.#droppedBlobs;
    this.#droppedBlobs = 0;
    const wasFailing = this.#failing;
    this.#failing = false;
    this.#retryDelay = 0;
    if (droppedEvents > 0 || droppedBlobs > 0) {
      const message = `Session ${this.id}: ${droppedEvents} events and ${droppedBlobs} bodies were not recorded because the write buffer was full.`;
      this.#warn(message);
      this.#emitStoreError(message);
    } else if (wasFailing) {
      this.#warn(`session ${this.id}: writes succeed again; nothing was lost`);
    }
  }

  #emitStoreError(message: string): void {
    const event: ProxyEvent = { type: 'store-error', code: 'write-failed', message, at: this.#now() };
    // Through the bus when attached (the UI hears it, and it comes back here to be recorded), else directly: also
    // during close(), whose last write reports what the buffer dropped since the one before (events.close() writes it).
    if (this.#bus) this.#bus.emit(event);
    else this.#append(event);
  }
}

/** Takes the session's lock file, refusing when another live process holds it. */
async function acquireLock(fs: StoreFs, dataDir: string, id: string): Promise<void> {
  const path = lockPath(dataDir, id);
  const takeover = `${path}.takeover`;
  const content = JSON.stringify(await ownIdentity());
  const busy = () => new StoreError('session-busy', `Session ${id} is being recorded by a running mitmlab; stop it or pick another --session.`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(path, content, { mode: 0o600, flag: 'wx' });
      return;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
    if (await isLive(dataDir, id, fs)) throw busy();
    // A stale lock from a crashed run. Only the process holding the takeover file (an exclusive create) removes it,
    // after checking again, while it holds that file, that the lock is still stale: so a live lock is never removed,
    // and of several processes taking over at once, the exclusive create of the lock itself picks one.
    try {
      await fs.writeFile(takeover, content, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      // Another process is taking over right now (milliseconds). A takeover file a crash left is cleared once old.
      const left = await fs.stat(takeover).catch(() => null);
      if (left === null || Date.now() - left.mtimeMs <= TAKEOVER_STALE_MS) throw busy();
      await fs.unlink(takeover).catch(() => {});
      continue;
    }
    try {
      if (!(await isLive(dataDir, id, fs))) {
        await fs.unlink(path).catch((error: unknown) => {
          if (errorCode(error) !== 'ENOENT') throw error;
        });
      }
    } finally {
      await fs.unlink(takeover).catch(() => {});
    }
  }
  throw busy();
}

/** A takeover file older than this was left by a process that died while taking over a lock. */
const TAKEOVER_STALE_MS = 10_000;
