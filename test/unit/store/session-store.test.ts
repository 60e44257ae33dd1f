import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../../server/events/bus.js';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import { blobPath, eventsPath, isSessionId, lockPath, newSessionId, packPath } from '../../../server/store/layout.js';
import { ownIdentity } from '../../../server/store/process-identity.js';
import { SessionStore } from '../../../server/store/session-store.js';
import { applyRetention, deleteSession, listSessions, loadSession } from '../../../server/store/sessions.js';
import { failingFs } from './failing-fs.js';
import { bodyRef, request, response, sampleSession } from './sample-events.js';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mitmlab-store-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function readAll(ref: string, warnings: string[] = []): Promise<ProxyEvent[]> {
  const session = await loadSession(dataDir, ref);
  const reader = await session.open({ onWarning: (message) => warnings.push(message) });
  const events: ProxyEvent[] = [];
  for await (const event of reader.events) events.push(event);
  return events;
}

const quiet = { onWarning: () => {} };

describe('session store', () => {
  it('persists every bus event in order, with a header line, and reloads them', async () => {
    const store = await SessionStore.open({ dataDir, ...quiet });
    expect(isSessionId(store.id)).toBe(true);
    const bus = new EventBus();
    store.attach(bus);
    const events = sampleSession(store.blobs);
    for (const event of events) bus.emit(event);
    await store.close();

    const text = await readFile(eventsPath(dataDir, store.id), 'utf8');
    const lines = text.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(JSON.parse(lines[0]!)).toMatchObject({ schemaVersion: 1, session: { id: store.id, name: null } });
    expect(await readAll('latest')).toEqual(events);
  });

  it('stores small bodies once in the session pack, large ones as shared files, and reads both back', async () => {
    const store = await SessionStore.open({ dataDir, ...quiet });
    const data = Buffer.from('same body');
    const a = store.blobs.put(data);
    const b = store.blobs.put(Buffer.from('same body'));
    expect(a).toBe(b);
    expect(await store.blobs.get(a)).toEqual(data);
    const large = Buffer.alloc(64 * 1024 + 1, 7);
    const c = store.blobs.put(large);
    await store.flush();
    // The small one is a record in blobs.pack (40-byte header, then the bytes), listed with its offset.
    expect(existsSync(blobPath(dataDir, a))).toBe(false);
    const pack = await readFile(packPath(dataDir, store.id));
    expect(pack.length).toBe(40 + data.length);
    expect(pack.subarray(40)).toEqual(data);
    expect(await readFile(blobPath(dataDir, c))).toEqual(large);
    expect((await readFile(join(dataDir, 'sessions', store.id, 'blobs.txt'), 'utf8')).trim().split('\n').sort()).toEqual(
      [`${a} 9 0`, `${c} ${large.length}`].sort(),
    );
    expect(await store.blobs.get(a)).toEqual(data);
    await store.close();
    const session = await loadSession(dataDir, store.id);
    expect(await session.blob(a)).toEqual(data);
    expect(await session.blob(c)).toEqual(large);
    expect(await session.blob('../../etc/passwd')).toBeNull();
    expect(await session.blob('0'.repeat(64))).toBeNull();
    await session.close();
  });

  it('lists sessions with name, times, flow count and size', async () => {
    let clock = Date.UTC(2026, 10, 22, 5, 0, 0);
    const store = await SessionStore.open({ dataDir, session: 'lab 1', now: () => clock, ...quiet });
    for (const event of sampleSession(store.blobs)) store.record(event);
    clock += 60_000;
    await store.close();
    const [info] = await listSessions(dataDir);
    expect(info).toMatchObject({
      id: store.id,
      name: 'lab 1',
      startedAt: Date.UTC(2026, 10, 22, 5, 0, 0),
      endedAt: Date.UTC(2026, 10, 22, 5, 1, 0),
      flowCount: 7,
      state: 'closed',
    });
    expect(info!.bytes).toBeGreaterThan(info!.eventBytes);
  });

  it('continues a named session, keeping earlier flows in memory', async () => {
    const first = await SessionStore.open({ dataDir, session: 'lab', ...quiet });
    expect(first.lastConnNumber).toBe(0);
    first.record({ type: 'connection-open', conn: 'c7', client: { address: '127.0.0.1', port: 1 }, mode: 'explicit', at: 0 });
    first.record(request('c1.1', 'c1', 'https://a.test/', 1));
    expect(first.lastConnNumber).toBe(7);
    await first.close();
    const second = await SessionStore.open({ dataDir, session: 'lab', ...quiet });
    expect(second.id).toBe(first.id);
    // The next run numbers its connections after the last one, so flow ids never repeat within the session.
    expect(second.lastConnNumber).toBe(7);
    expect(second.flows().map((f) => f.id)).toEqual(['c1.1']);
    second.record(request('c2.1', 'c2', 'https://b.test/', 2));
    await second.close();
    expect((await readAll('lab')).map((e) => e.type)).toEqual(['connection-open', 'http-request', 'http-request']);
    const third = await SessionStore.open({ dataDir, session: 'other', ...quiet });
    expect(third.id).not.toBe(first.id);
    await third.close();
  });

  it('continuing a session removes the temporary meta files a killed run left, and nothing else', async () => {
    const first = await SessionStore.open({ dataDir, session: 'leftovers', ...quiet });
    await first.close();
    const dir = join(dataDir, 'sessions', first.id);
    await writeFile(join(dir, 'meta.json.tmp-0123abcd'), '{"half":');
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const second = await SessionStore.open({ dataDir, session: 'leftovers', ...quiet });
    expect(existsSync(join(dir, 'meta.json.tmp-0123abcd'))).toBe(false);
    expect(existsSync(join(dir, 'notes.txt'))).toBe(true);
    expect(existsSync(join(dir, 'meta.json'))).toBe(true);
    await second.close();
  });

  it('lists an interrupted session with the counts of its log, not of a meta.json the crash left behind', async () => {
    const store = await SessionStore.open({ dataDir, session: 'crashed', ...quiet });
    store.record(request('c1.1', 'c1', 'https://a.test/', 1));
    await store.close();
    // As after kill -9: the log got more lines after the last meta.json rewrite, and no clean end was written.
    const metaFile = join(dataDir, 'sessions', store.id, 'meta.json');
    const meta = JSON.parse(await readFile(metaFile, 'utf8')) as Record<string, unknown>;
    await writeFile(metaFile, JSON.stringify({ ...meta, endedAt: null }));
    await appendFile(eventsPath(dataDir, store.id), [request('c2.1', 'c2', 'https://b.test/', 5), response('c2.1', 'c2', 9)].map((e) => `${JSON.stringify(e)}\n`).join(''));
    const [info] = await listSessions(dataDir);
    expect(info).toMatchObject({ state: 'interrupted', flowCount: 2, eventCount: 3, lastEventAt: 9 });
  });

  it('refuses to open a session that a live process is recording', async () => {
    const store = await SessionStore.open({ dataDir, session: 'busy', ...quiet });
    await expect(SessionStore.open({ dataDir, session: 'busy', ...quiet })).rejects.toMatchObject({ code: 'session-busy' });
    await expect(deleteSession(dataDir, store.id)).rejects.toMatchObject({ code: 'session-busy' });
    await store.close();
    expect(existsSync(lockPath(dataDir, store.id))).toBe(false);
  });

  it('takes over a lock whose pid now belongs to another process, or that was written before a reboot', async () => {
    const own = await ownIdentity();
    expect(own.boot).toMatch(/^[0-9a-f-]{36}$/); // Linux: the lock can tell these cases apart
    const first = await SessionStore.open({ dataDir, session: 'reused', ...quiet });
    await first.close();
    // pid 1 runs, but it is not the process that wrote these locks (a container's mitmlab was pid 1, or a reboot).
    for (const stale of [{ pid: 1, boot: own.boot, started: 'not-its-start' }, { pid: process.pid, boot: 'another-boot', started: own.started }]) {
      await writeFile(lockPath(dataDir, first.id), JSON.stringify(stale));
      expect((await listSessions(dataDir)).find((i) => i.id === first.id)?.state, JSON.stringify(stale)).not.toBe('live');
      const again = await SessionStore.open({ dataDir, session: 'reused', ...quiet });
      expect(again.id).toBe(first.id);
      await again.close();
    }
  });

  it('lets one of two takeovers of the same stale lock win, never both', async () => {
    const first = await SessionStore.open({ dataDir, session: 'race', ...quiet });
    await first.close();
    await writeFile(lockPath(dataDir, first.id), JSON.stringify({ pid: 2 ** 22 + 12345 }));
    const results = await Promise.allSettled([1, 2, 3].map(() => SessionStore.open({ dataDir, session: 'race', ...quiet })));
    const opened = results.filter((r) => r.status === 'fulfilled');
    expect(opened).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['session-busy', 'session-busy']);
    await (opened[0] as PromiseFulfilledResult<SessionStore>).value.close();
  });

  it('clears a takeover file that a process dying mid-takeover left, once it is old, and takes the stale lock', async () => {
    const first = await SessionStore.open({ dataDir, session: 'orphan', ...quiet });
    await first.close();
    await writeFile(lockPath(dataDir, first.id), JSON.stringify({ pid: 2 ** 22 + 12345 }));
    const takeover = `${lockPath(dataDir, first.id)}.takeover`;
    await writeFile(takeover, JSON.stringify({ pid: 2 ** 22 + 12346 }));
    // A fresh one means a takeover under way: busy.
    await expect(SessionStore.open({ dataDir, session: 'orphan', ...quiet })).rejects.toMatchObject({ code: 'session-busy' });
    const old = new Date(Date.now() - 60_000);
    await utimes(takeover, old, old);
    const second = await SessionStore.open({ dataDir, session: 'orphan', ...quiet });
    expect(existsSync(takeover)).toBe(false);
    await second.close();
  });

  it('skips a torn last line with a warning on load, and cuts it before appending', async () => {
    const store = await SessionStore.open({ dataDir, session: 'torn', ...quiet });
    store.record(request('c1.1', 'c1', 'https://a.test/', 1));
    await store.close();
    await appendFile(eventsPath(dataDir, store.id), '{"type":"http-request","id":"c1.2","co');
    const warnings: string[] = [];
    expect((await readAll(store.id, warnings)).map((e) => e.type)).toEqual(['http-request']);
    expect(warnings.join('\n')).toMatch(/last line was cut off/);

    const openWarnings: string[] = [];
    const again = await SessionStore.open({ dataDir, session: 'torn', onWarning: (m) => openWarnings.push(m) });
    expect(openWarnings.join('\n')).toMatch(/cut off/);
    again.record(request('c2.1', 'c2', 'https://b.test/', 2));
    await again.close();
    const after: string[] = [];
    expect((await readAll(store.id, after)).map((e) => (e as { id: string }).id)).toEqual(['c1.1', 'c2.1']);
    expect(after).toEqual([]);
  });

  it('skips a corrupt line in the middle with a warning instead of failing', async () => {
    const store = await SessionStore.open({ dataDir, ...quiet });
    await store.close();
    await appendFile(eventsPath(dataDir, store.id), `${JSON.stringify(request('a.1', 'a', 'https://a.test/', 1))}\n{garbage\n${JSON.stringify(request('b.1', 'b', 'https://b.test/', 2))}\n`);
    const warnings: string[] = [];
    expect((await readAll(store.id, warnings)).length).toBe(2);
    expect(warnings.join()).toMatch(/unreadable line 3/);
  });

  it('survives ENOSPC: emits store-error once, keeps proxying, loses no earlier data, resumes', async () => {
    const { fs, control } = failingFs();
    const warnings: string[] = [];
    const store = await SessionStore.open({ dataDir, fs, flushIntervalMs: 10, onWarning: (m) => warnings.push(m) });
    const bus = new EventBus();
    const seen: ProxyEvent[] = [];
    bus.subscribe((event) => seen.push(event));
    store.attach(bus);

    bus.emit(request('c1.1', 'c1', 'https://a.test/', 1));
    await store.flush();
    control.code = 'ENOSPC';
    control.shortWriteFirst = true;
    const body = bodyRef(store.blobs, Buffer.from('body written late'));
    for (let i = 2; i <= 50; i++) bus.emit(request(`c1.${i}`, 'c1', 'https://a.test/', i));
    bus.emit(response('c1.50', 'c1', 60, { body }));
    await expect(store.flush()).rejects.toMatchObject({ code: 'ENOSPC' });
    // Emitting never throws while the disk is full, and the timer keeps retrying.
    for (let i = 51; i <= 60; i++) bus.emit(request(`c1.${i}`, 'c1', 'https://a.test/', i));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(control.refused).toBeGreaterThan(2);
    expect(seen.filter((e) => e.type === 'store-error')).toHaveLength(1);
    expect(seen.find((e) => e.type === 'store-error')).toMatchObject({ code: 'write-failed' });
    expect(warnings.filter((w) => /ENOSPC/.test(w))).toHaveLength(1);
    expect(store.failing).toBe(true);

    control.code = null;
    await store.flush();
    expect(store.failing).toBe(false);
    await store.close();
    const events = await readAll(store.id);
    const ids = events.filter((e) => e.type === 'http-request').map((e) => (e as { id: string }).id);
    expect(ids).toEqual(Array.from({ length: 60 }, (_, i) => `c1.${i + 1}`));
    // The outage itself is on record, and the body written after recovery is readable: the half-written pack record
    // was rewritten in place.
    expect(events.some((e) => e.type === 'store-error')).toBe(true);
    expect((await (await loadSession(dataDir, store.id)).blob(body.sha256))?.toString()).toBe('body written late');
    expect((await readFile(packPath(dataDir, store.id))).length).toBe(40 + 'body written late'.length);
  });

  it('bounds the buffer while writes fail, reporting how many events were dropped', async () => {
    const { fs, control } = failingFs();
    const warnings: string[] = [];
    const store = await SessionStore.open({ dataDir, fs, maxBufferBytes: 4096, onWarning: (m) => warnings.push(m) });
    store.record(request('keep.1', 'keep', 'https://a.test/', 0));
    await store.flush();
    control.code = 'EACCES';
    for (let i = 0; i < 200; i++) store.record(request(`c${i}.1`, `c${i}`, 'https://a.test/', i));
    await expect(store.flush()).rejects.toMatchObject({ code: 'EACCES' });
    control.code = null;
    await store.flush();
    await store.close();
    const events = await readAll(store.id);
    const requests = events.filter((e) => e.type === 'http-request');
    expect(requests[0]).toMatchObject({ id: 'keep.1' });
    expect(requests.length).toBeGreaterThan(1);
    expect(requests.length).toBeLessThan(201);
    // Accepted events are consecutive: the oldest are kept, the newest dropped.
    expect(requests.map((e) => (e as { id: string }).id).slice(1)).toEqual(Array.from({ length: requests.length - 1 }, (_, i) => `c${i}.1`));
    const dropped = events.find((e) => e.type === 'store-error' && /were not recorded/.test(e.message));
    expect(dropped).toBeDefined();
    expect(warnings.some((w) => new RegExp(`${201 - requests.length} events`).test(w))).toBe(true);
  });

  it('records the count of events dropped just before a stop (the report would come only with a later write)', async () => {
    // A healthy disk that the events outran: the buffer filled between two writes, and then mitmlab stopped.
    const warnings: string[] = [];
    const store = await SessionStore.open({ dataDir, maxBufferBytes: 4096, flushIntervalMs: 60_000, onWarning: (m) => warnings.push(m) });
    const bus = new EventBus();
    store.attach(bus);
    for (let i = 0; i < 200; i++) bus.emit(request(`c${i}.1`, `c${i}`, 'https://a.test/', i));
    await store.close();
    const events = await readAll(store.id);
    const kept = events.filter((e) => e.type === 'http-request').length;
    expect(kept).toBeLessThan(200);
    const report = events.find((e) => e.type === 'store-error');
    expect(report?.type === 'store-error' && report.message).toMatch(new RegExp(`: ${200 - kept} events and 0 bodies were not recorded`));
    expect(warnings.join('\n')).toMatch(/were not recorded/);
    // The size on record counts that last line too.
    const meta = JSON.parse(await readFile(join(dataDir, 'sessions', store.id, 'meta.json'), 'utf8')) as { eventBytes: number };
    expect(meta.eventBytes).toBe((await readFile(eventsPath(dataDir, store.id))).length);
  });

  it('keeps the newest N sessions with --retain and deletes unreferenced blobs only', async () => {
    // Large enough for blob files (shared across sessions); small ones live in each session's pack.
    const large = (text: string) => Buffer.concat([Buffer.from(text), Buffer.alloc(70_000)]);
    const shared = large('shared body');
    const ids: string[] = [];
    const only: string[] = [];
    const small: string[] = [];
    for (let i = 0; i < 4; i++) {
      const store = await SessionStore.open({ dataDir, now: () => Date.UTC(2026, 0, 1, 0, 0, i), ...quiet });
      store.blobs.put(shared);
      only.push(store.blobs.put(large(`only in ${i}`)));
      small.push(store.blobs.put(Buffer.from(`small in ${i}`)));
      await store.close();
      ids.push(store.id);
    }
    expect((await listSessions(dataDir)).map((s) => s.id)).toEqual(ids);
    const deleted = await applyRetention(dataDir, 2, { blobGraceMs: 0 });
    expect(deleted).toEqual(ids.slice(0, 2));
    expect((await listSessions(dataDir)).map((s) => s.id)).toEqual(ids.slice(2));
    expect(existsSync(blobPath(dataDir, only[0]!))).toBe(false);
    expect(existsSync(blobPath(dataDir, only[1]!))).toBe(false);
    expect(existsSync(blobPath(dataDir, only[2]!))).toBe(true);
    const { createHash } = await import('node:crypto');
    expect(existsSync(blobPath(dataDir, createHash('sha256').update(shared).digest('hex')))).toBe(true);
    await expect((await loadSession(dataDir, ids[3]!)).blob(only[3]!)).resolves.toEqual(large('only in 3'));
    // Packs go with their sessions.
    expect(existsSync(packPath(dataDir, ids[0]!))).toBe(false);
    await expect((await loadSession(dataDir, ids[2]!)).blob(small[2]!)).resolves.toEqual(Buffer.from('small in 2'));

    // The grace period spares recently touched blobs even when unreferenced.
    await deleteSession(dataDir, ids[2]!);
    expect(existsSync(blobPath(dataDir, only[2]!))).toBe(true);
    await deleteSession(dataDir, ids[3]!, { blobGraceMs: 0 });
    expect(existsSync(blobPath(dataDir, only[3]!))).toBe(false);
  });

  it('a deletion removes the blob prefix folders it empties, and keeps those still in use', async () => {
    const { createHash } = await import('node:crypto');
    const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    // Large enough for a blob file of its own (small bodies live in the session's pack).
    const large = (n: number) => Buffer.concat([Buffer.from(`body ${n}`), Buffer.alloc(70_000)]);
    const folder = (data: Buffer) => join(dataDir, 'blobs', sha(data).slice(0, 2));
    const alone = large(0);
    const kept = large(1);
    // A body of the deleted session that shares its prefix folder with one that stays.
    let n = 2;
    while (folder(large(n)) !== folder(kept) || folder(large(n)) === folder(alone)) n++;
    const neighbour = large(n);
    if (folder(kept) === folder(alone)) throw new Error('pick other bodies: these two share a folder');

    const old = await SessionStore.open({ dataDir, now: () => Date.UTC(2026, 0, 1), ...quiet });
    old.blobs.put(alone);
    old.blobs.put(neighbour);
    await old.close();
    const stays = await SessionStore.open({ dataDir, now: () => Date.UTC(2026, 0, 2), ...quiet });
    stays.blobs.put(kept);
    await stays.close();
    expect(existsSync(folder(alone))).toBe(true);

    await deleteSession(dataDir, old.id, { blobGraceMs: 0 });
    expect(existsSync(blobPath(dataDir, sha(alone)))).toBe(false);
    expect(existsSync(folder(alone))).toBe(false);
    expect(existsSync(blobPath(dataDir, sha(neighbour)))).toBe(false);
    expect(existsSync(blobPath(dataDir, sha(kept)))).toBe(true);
  });

  it('a running session stores a body whose prefix folder a deletion removed under it', async () => {
    const { createHash } = await import('node:crypto');
    const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    const large = (n: number) => Buffer.concat([Buffer.from(`body ${n}`), Buffer.alloc(70_000)]);
    const first = large(0);
    let n = 1;
    while (sha(large(n)).slice(0, 2) !== sha(first).slice(0, 2)) n++;
    const second = large(n);
    const store = await SessionStore.open({ dataDir, ...quiet });
    store.blobs.put(first);
    await store.flush();
    // What another process's deletion does once the folder is empty (its own copy of `first` gone): the store's sink
    // made that folder itself and remembers it.
    await rm(blobPath(dataDir, sha(first)));
    await rm(join(dataDir, 'blobs', sha(first).slice(0, 2)), { recursive: true });
    store.blobs.put(second);
    await store.close();
    const events = await readAll(store.id);
    expect(events.filter((e) => e.type === 'store-error')).toEqual([]);
    await expect((await loadSession(dataDir, store.id)).blob(sha(second))).resolves.toEqual(second);
  });

  it('applies --retain when a session opens, never deleting the new one', async () => {
    for (let i = 0; i < 3; i++) {
      const store = await SessionStore.open({ dataDir, now: () => Date.UTC(2026, 0, 1, 0, 0, i), ...quiet });
      await store.close();
    }
    const store = await SessionStore.open({ dataDir, retain: 1, ...quiet });
    expect((await listSessions(dataDir)).map((s) => s.id)).toEqual([store.id]);
    await store.close();
  });

  it('a start on a full disk leaves no folder behind, names the data directory, and the real sessions stay "latest"', async () => {
    const real = await SessionStore.open({ dataDir, session: 'real', now: () => Date.UTC(2026, 0, 1), ...quiet });
    real.record(request('c1.1', 'c1', 'https://a.test/', 1));
    await real.close();
    const { fs, control } = failingFs();
    control.code = 'ENOSPC';
    const failed = SessionStore.open({ dataDir, fs, ...quiet });
    await expect(failed).rejects.toMatchObject({ code: 'bad-data-dir' });
    await expect(failed).rejects.toThrow(new RegExp(`in ${dataDir}.*ENOSPC`));
    expect((await readdir(join(dataDir, 'sessions'))).sort()).toEqual([real.id]);
    expect((await loadSession(dataDir, 'latest')).id).toBe(real.id);
  });

  it('a folder without an event log (left by an older failed start) is never "latest" and never counts for --retain', async () => {
    const real = await SessionStore.open({ dataDir, session: 'real', now: () => Date.UTC(2026, 0, 1), ...quiet });
    await real.close();
    const husk = newSessionId(Date.UTC(2026, 0, 2));
    await mkdir(join(dataDir, 'sessions', husk), { recursive: true });
    await writeFile(lockPath(dataDir, husk), '');
    expect((await loadSession(dataDir, 'latest')).id).toBe(real.id);
    expect(await applyRetention(dataDir, 1)).toEqual([]);
    expect((await listSessions(dataDir)).map((info) => info.id)).toEqual([real.id]);
    const continued = await SessionStore.open({ dataDir, session: 'latest', ...quiet });
    expect(continued.id).toBe(real.id);
    await continued.close();
  });

  it('finds a session by name when its meta.json is damaged (the name is in the log header), and continues it', async () => {
    const lab = await SessionStore.open({ dataDir, session: 'lab1', now: () => Date.UTC(2026, 0, 1), ...quiet });
    lab.record(request('c1.1', 'c1', 'https://a.test/', 1));
    await lab.close();
    await writeFile(join(dataDir, 'sessions', lab.id, 'meta.json'), '{"schemaVersion":1,');
    expect((await loadSession(dataDir, 'lab1')).id).toBe(lab.id);
    const again = await SessionStore.open({ dataDir, session: 'lab1', ...quiet });
    expect(again.id).toBe(lab.id);
    expect(again.name).toBe('lab1');
    expect(again.meta().startedAt).toBe(Date.UTC(2026, 0, 1));
    await again.close();
    expect((await listSessions(dataDir)).map((info) => [info.id, info.name])).toEqual([[lab.id, 'lab1']]);
  });

  it('lists a session that stopped cleanly as closed when its meta.json is damaged or gone, with the counts of its log', async () => {
    const stopped = await SessionStore.open({ dataDir, session: 'stopped', now: () => Date.UTC(2026, 0, 1), ...quiet });
    stopped.record(request('c1.1', 'c1', 'https://a.test/', 1_000));
    stopped.record(response('c1.1', 'c1', 2_000));
    await stopped.close();
    const metaFile = join(dataDir, 'sessions', stopped.id, 'meta.json');
    const expected = { state: 'closed', name: 'stopped', eventCount: 2, flowCount: 1, lastEventAt: 2_000, endedAt: 2_000 };
    await writeFile(metaFile, '{garbage');
    expect((await listSessions(dataDir))[0]).toMatchObject(expected);
    await rm(metaFile);
    expect((await listSessions(dataDir))[0]).toMatchObject(expected);
    // A crash leaves its lock behind: without meta.json that session is still interrupted.
    await writeFile(lockPath(dataDir, stopped.id), JSON.stringify({ pid: 2 ** 22 + 12345 }));
    expect((await listSessions(dataDir))[0]).toMatchObject({ state: 'interrupted', endedAt: null, eventCount: 2 });
  });

  it('--retain never deletes a session newer than the ones it keeps, even when an older one is live', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const store = await SessionStore.open({ dataDir, now: () => Date.UTC(2026, 0, 1, 0, 0, i), ...quiet });
      await store.close();
      ids.push(store.id);
    }
    const live = await SessionStore.open({ dataDir, session: ids[0]!, ...quiet });
    // The oldest is being recorded: it stays, the newest stays, the one between goes.
    expect(await applyRetention(dataDir, 1)).toEqual([ids[1]]);
    expect((await listSessions(dataDir)).map((info) => info.id)).toEqual([ids[0], ids[2]]);
    await live.close();
  });

  it('reports a session whose writer died as interrupted', async () => {
    const id = newSessionId(Date.UTC(2026, 0, 1));
    const dir = join(dataDir, 'sessions', id);
    await rm(dir, { recursive: true, force: true });
    const store = await SessionStore.open({ dataDir, ...quiet });
    await store.flush();
    // Simulate a crash: the lock remains, naming a process that no longer exists.
    await writeFile(lockPath(dataDir, store.id), JSON.stringify({ pid: 2 ** 22 + 12345 }));
    const [info] = await listSessions(dataDir);
    expect(info).toMatchObject({ state: 'interrupted', endedAt: null });
    await store.close();
  });

  it('keeps only flowCap summaries in memory while every event stays on disk', async () => {
    const store = await SessionStore.open({ dataDir, flowCap: 100, ...quiet });
    for (let i = 0; i < 1000; i++) {
      store.record(request(`c${i}.1`, `c${i}`, 'https://a.test/', i));
      store.record(response(`c${i}.1`, `c${i}`, i + 1));
    }
    expect(store.flows()).toHaveLength(100);
    expect(store.flows()[0]!.id).toBe('c900.1');
    await store.close();
    expect((await readAll(store.id)).length).toBe(2000);
    expect((await listSessions(dataDir))[0]!.flowCount).toBe(1000);
  });
});

describe('connection history', () => {
  it('reads back the events of one connection from the log', async () => {
    const { readConnectionEvents } = await import('../../../server/store/history.js');
    const store = await SessionStore.open({ dataDir, ...quiet });
    const events = sampleSession(store.blobs);
    for (const event of events) store.record(event);
    await store.close();
    const c2 = await readConnectionEvents(dataDir, store.id, 'c2');
    expect(c2).toEqual(events.filter((e) => 'conn' in e && e.conn === 'c2'));
    expect(await readConnectionEvents(dataDir, store.id, 'c99')).toEqual([]);
    expect(await readConnectionEvents(dataDir, newSessionId(0), 'c1')).toBeNull();
    expect(await readConnectionEvents(dataDir, store.id, 'c1', 3)).toHaveLength(3);
  });
});
