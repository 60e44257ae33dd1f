// The session's blob pack: small blobs appended to blobs.pack and listed in blobs.txt with their offsets. Crashes are
// simulated on the files a closed session leaves (a torn tail, a lost blobs.txt line, a damaged record).

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportSession } from '../../../server/store/export.js';
import { blobListPath, blobPath, packPath } from '../../../server/store/layout.js';
import { encodePackRecord, PACK_HEADER_BYTES } from '../../../server/store/pack-format.js';
import { SessionStore } from '../../../server/store/session-store.js';
import { deleteSession, loadSession } from '../../../server/store/sessions.js';
import { failingFs } from './failing-fs.js';
import { bodyRef, request, response } from './sample-events.js';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mitmlab-pack-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const quiet = { onWarning: () => {} };
const blob = (text: string) => Buffer.from(text);
const recordBytes = (data: Buffer) => PACK_HEADER_BYTES + data.length;

async function listLines(id: string): Promise<string[]> {
  return (await readFile(blobListPath(dataDir, id), 'utf8')).split('\n').filter((line) => line.length > 0);
}

async function readBack(id: string, shas: string[]): Promise<Array<string | null>> {
  const session = await loadSession(dataDir, id);
  try {
    return await Promise.all(shas.map(async (s) => (await session.blob(s))?.toString() ?? null));
  } finally {
    await session.close();
  }
}

/** A session named `name` holding `texts` as small blobs, closed cleanly. */
async function recordBlobs(name: string, texts: string[]): Promise<{ id: string; shas: string[] }> {
  const store = await SessionStore.open({ dataDir, session: name, ...quiet });
  const shas = texts.map((text) => store.blobs.put(blob(text)));
  await store.close();
  return { id: store.id, shas };
}

describe('blob pack', () => {
  it('appends each small blob once, with its offset in blobs.txt, in one file for the session', async () => {
    const store = await SessionStore.open({ dataDir, ...quiet });
    const texts = ['client hello', 'server flight', 'client hello', 'a body'];
    const shas = texts.map((text) => store.blobs.put(blob(text)));
    await store.flush();
    const pack = await readFile(packPath(dataDir, store.id));
    expect(pack.length).toBe(recordBytes(blob('client hello')) + recordBytes(blob('server flight')) + recordBytes(blob('a body')));
    const lines = await listLines(store.id);
    expect(lines).toEqual([
      `${shas[0]} 12 0`,
      `${shas[1]} 13 ${recordBytes(blob('client hello'))}`,
      `${shas[3]} 6 ${recordBytes(blob('client hello')) + recordBytes(blob('server flight'))}`,
    ]);
    // Nothing went to the shared blob folder.
    for (const s of shas) expect(existsSync(blobPath(dataDir, s))).toBe(false);
    await store.close();
    expect(await readBack(store.id, shas)).toEqual(texts);
  });

  it('gives records put during a write the right offsets', async () => {
    const store = await SessionStore.open({ dataDir, ...quiet });
    const texts = Array.from({ length: 200 }, (_, i) => `blob ${i} `.repeat(1 + (i % 50)));
    const shas: string[] = [];
    const flushes: Array<Promise<void>> = [];
    for (const [i, text] of texts.entries()) {
      shas.push(store.blobs.put(blob(text)));
      if (i % 30 === 0) flushes.push(store.flush());
    }
    await Promise.all(flushes);
    await store.close();
    expect(await readBack(store.id, shas)).toEqual(texts);
    const offsets = (await listLines(store.id)).map((line) => Number(line.split(' ')[2]));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(offsets).toHaveLength(200);
  });

  it('reads records larger than the read window, and many in a row', async () => {
    const store = await SessionStore.open({ dataDir, packMaxBytes: 300 * 1024, ...quiet });
    const big = Buffer.alloc(200 * 1024, 'x');
    const smalls = Array.from({ length: 100 }, (_, i) => Buffer.alloc(3000 + i, i));
    const shas = [store.blobs.put(big), ...smalls.map((b) => store.blobs.put(b))];
    await store.close();
    expect(existsSync(blobPath(dataDir, shas[0]!))).toBe(false);
    const session = await loadSession(dataDir, store.id);
    // equals(): toEqual walks large buffers byte by byte.
    const same = async (s: string, expected: Buffer) => expect((await session.blob(s))?.equals(expected)).toBe(true);
    await same(shas[0]!, big);
    for (const [i, s] of shas.slice(1).entries()) await same(s, smalls[i]!);
    // Out of order too.
    await same(shas[7]!, smalls[6]!);
    await same(shas[0]!, big);
    await session.close();
  });

  it('keeps earlier records when the pack has a torn tail, and cuts the tail before appending', async () => {
    const { id, shas } = await recordBlobs('torn', ['first', 'second']);
    const sizeBefore = (await readFile(packPath(dataDir, id))).length;
    // A crash mid-write: half a record, as a short write leaves it.
    const never = blob('never whole '.repeat(10));
    await appendFile(packPath(dataDir, id), encodePackRecord(sha(never), never).subarray(0, 70));
    expect(await readBack(id, shas)).toEqual(['first', 'second']);

    const warnings: string[] = [];
    const again = await SessionStore.open({ dataDir, session: 'torn', onWarning: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(/blobs\.pack was cut off.*dropped 70 bytes/);
    const third = again.blobs.put(blob('third'));
    // The same bytes again in the continued session: still stored once.
    expect(again.blobs.put(blob('first'))).toBe(shas[0]);
    await again.close();
    expect((await readFile(packPath(dataDir, id))).length).toBe(sizeBefore + recordBytes(blob('third')));
    expect(await readBack(id, [...shas, third])).toEqual(['first', 'second', 'third']);
    expect(await listLines(id)).toHaveLength(3);
  });

  it('finds whole records whose blobs.txt line a crash lost, and lists them again on continue', async () => {
    const { id, shas } = await recordBlobs('unlisted', ['one', 'two', 'three']);
    const lines = await listLines(id);
    await writeFile(blobListPath(dataDir, id), `${lines[0]}\n`);
    expect(await readBack(id, shas)).toEqual(['one', 'two', 'three']);

    const again = await SessionStore.open({ dataDir, session: 'unlisted', ...quiet });
    expect(again.blobs.put(blob('three'))).toBe(shas[2]);
    await again.close();
    expect(await listLines(id)).toEqual(lines);
    expect((await readFile(packPath(dataDir, id))).length).toBe(recordBytes(blob('one')) + recordBytes(blob('two')) + recordBytes(blob('three')));
  });

  it('reports a damaged record as not stored, without touching its neighbours; HAR says so', async () => {
    const store = await SessionStore.open({ dataDir, session: 'damaged', ...quiet });
    const texts = ['request body', 'response body', 'another response'];
    const refs = texts.map((text) => bodyRef(store.blobs, blob(text)));
    store.record(request('c1.1', 'c1', 'https://a.test/', 1, { body: refs[0]! }));
    store.record(response('c1.1', 'c1', 2, { body: refs[1]! }));
    await store.close();
    const pack = await readFile(packPath(dataDir, store.id));
    // Flip one byte of the second record's data (a bad sector, or a torn page after a power loss).
    pack[recordBytes(blob(texts[0]!)) + PACK_HEADER_BYTES + 3]! ^= 0xff;
    await writeFile(packPath(dataDir, store.id), pack);
    expect(await readBack(store.id, refs.map((r) => r.sha256))).toEqual([texts[0], null, texts[2]]);

    let har = '';
    const out = new Writable({
      write(chunk, _encoding, done) {
        har += chunk.toString();
        done();
      },
    });
    const warnings: string[] = [];
    await exportSession({ dataDir, session: 'damaged', format: 'har', onWarning: (m) => warnings.push(m) }, out);
    type Entry = { request: { postData?: { text?: string; _encoding?: string } }; response: { content: { comment?: string; text?: string } } };
    const [entry] = (JSON.parse(har) as { log: { entries: Entry[] } }).log.entries;
    const postData = entry!.request.postData;
    expect(Buffer.from(postData?.text ?? '', postData?._encoding === 'base64' ? 'base64' : 'utf8').toString()).toBe('request body');
    expect(entry!.response.content.comment).toMatch(/not stored/);
    expect(entry!.response.content.text ?? '').toBe('');
  });

  it('reports a blob whose record a crash never wrote as not stored', async () => {
    const { id, shas } = await recordBlobs('lost', ['kept', 'lost']);
    await truncate(packPath(dataDir, id), recordBytes(blob('kept')) + 10);
    expect(await readBack(id, shas)).toEqual(['kept', null]);
    // Continuing cuts the partial record; the lost blob is stored again when it comes again.
    const again = await SessionStore.open({ dataDir, session: 'lost', ...quiet });
    expect(again.blobs.put(blob('lost'))).toBe(shas[1]);
    await again.close();
    expect(await readBack(id, shas)).toEqual(['kept', 'lost']);
  });

  it('retries a short write at the same offset, so the disk failing mid-record loses nothing', async () => {
    const { fs, control } = failingFs();
    const warnings: string[] = [];
    const store = await SessionStore.open({ dataDir, fs, flushIntervalMs: 10, onWarning: (m) => warnings.push(m) });
    const first = store.blobs.put(blob('before the outage'));
    await store.flush();
    control.code = 'ENOSPC';
    control.shortWriteFirst = true;
    const during = ['during 1', 'during 2 '.repeat(20)].map((text) => store.blobs.put(blob(text)));
    await expect(store.flush()).rejects.toMatchObject({ code: 'ENOSPC' });
    // Half a chunk reached the pack; the blobs are still served from memory.
    expect((await readFile(packPath(dataDir, store.id))).length).toBeGreaterThan(recordBytes(blob('before the outage')));
    expect((await store.blobs.get(during[1]!))?.toString()).toBe('during 2 '.repeat(20));
    control.code = null;
    await store.flush();
    await store.close();
    expect(await readBack(store.id, [first, ...during])).toEqual(['before the outage', 'during 1', 'during 2 '.repeat(20)]);
    expect((await readFile(packPath(dataDir, store.id))).length).toBe(
      recordBytes(blob('before the outage')) + recordBytes(blob('during 1')) + recordBytes(blob('during 2 '.repeat(20))),
    );
    expect(warnings.filter((w) => /ENOSPC/.test(w))).toHaveLength(1);
  });

  it('sends small blobs to files once the pack index is full', async () => {
    const store = await SessionStore.open({ dataDir, maxPackIndexEntries: 2, ...quiet });
    const shas = ['a', 'b', 'c', 'd'].map((text) => store.blobs.put(blob(text)));
    await store.close();
    expect(shas.map((s) => existsSync(blobPath(dataDir, s)))).toEqual([false, false, true, true]);
    expect(await readBack(store.id, shas)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('reads a body file whose bytes no longer match its SHA-256 as not stored', async () => {
    const store = await SessionStore.open({ dataDir, maxPackIndexEntries: 0, ...quiet });
    const big = Buffer.alloc(200 * 1024, 0x61);
    const id = store.blobs.put(big);
    await store.close();
    expect(existsSync(blobPath(dataDir, id))).toBe(true);
    expect((await readBack(store.id, [id]))[0]).toHaveLength(big.length);
    await truncate(blobPath(dataDir, id), 1000);
    expect(await readBack(store.id, [id])).toEqual([null]);
  });

  it('serves past sessions\' packed blobs through the live store (the live view fetches bodies by SHA-256)', async () => {
    const past = await recordBlobs('past', ['old body', 'old hello']);
    const store = await SessionStore.open({ dataDir, session: 'now', ...quiet });
    const current = store.blobs.put(blob('new body'));
    expect((await store.blobs.get(past.shas[0]!))?.toString()).toBe('old body');
    expect((await store.blobs.get(current))?.toString()).toBe('new body');
    await store.flush();
    expect((await store.blobs.get(current))?.toString()).toBe('new body');
    expect((await store.blobs.get(past.shas[1]!))?.toString()).toBe('old hello');
    expect(await store.blobs.get(sha(blob('never stored')))).toBeNull();
    expect(await store.blobs.get('../../../etc/passwd')).toBeNull();
    // A past session deleted: its blobs are gone with it.
    await deleteSession(dataDir, past.id, { blobGraceMs: 0 });
    expect(await store.blobs.get(past.shas[0]!)).toBeNull();
    await store.close();
  });

  it('reads sessions written before packs (every blob a file, blobs.txt without offsets)', async () => {
    const store = await SessionStore.open({ dataDir, packMaxBytes: 0, ...quiet });
    const s = store.blobs.put(blob('legacy'));
    await store.close();
    expect(existsSync(packPath(dataDir, store.id))).toBe(false);
    expect(await listLines(store.id)).toEqual([`${s} 6`]);
    expect(await readBack(store.id, [s])).toEqual(['legacy']);
  });
});
