// `mitmlab export` and `mitmlab sessions` command logic over a real data directory, plus the JSONL and key log
// formats end to end.

import { appendFile, lstat, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runExportCommand, type ExportIo } from '../../server/cli/export-command.js';
import { runSessionsCommand } from '../../server/cli/sessions-command.js';
import { hubExporter } from '../../server/cli/hub-adapters.js';
import type { ProxyEvent } from '../../server/protocol/events.js';
import { SessionStore } from '../../server/store/session-store.js';
import { sampleSession } from '../unit/store/sample-events.js';
import { run } from '../helpers/run.js';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mitmlab-cli-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function fakeIo(isTTY = false): ExportIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    isTTY,
    // Like the CLI's io: each call is printed with a trailing newline added when missing.
    stdout: (text) => out.push(text.endsWith('\n') ? text : `${text}\n`),
    stderr: (text) => err.push(text),
  };
}

async function record(name: string, events: (store: SessionStore) => ProxyEvent[], at = Date.UTC(2026, 10, 22, 5, 0, 0)): Promise<string> {
  let clock = at;
  const store = await SessionStore.open({ dataDir, session: name, now: () => clock, onWarning: () => {} });
  for (const event of events(store)) store.record(event);
  clock += 90_000;
  await store.close();
  return store.id;
}

describe('mitmlab export', () => {
  it('writes a HAR file atomically and reports what it wrote', async () => {
    const id = await record('lab', (store) => sampleSession(store.blobs));
    const io = fakeIo();
    const out = join(dataDir, 'out.har');
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'har', out }, io)).toBe(0);
    const har = JSON.parse(await readFile(out, 'utf8')) as { log: { entries: unknown[] } };
    expect(har.log.entries).toHaveLength(5);
    expect(io.err.at(-1)).toBe(`exported 5 HAR entries of session ${id} to ${out}`);
    expect((await readdir(dataDir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(io.out).toEqual([]);
  });

  it('streams JSONL to standard output: the header, then the events as recorded', async () => {
    const events: ProxyEvent[] = [];
    await record('lab', (store) => {
      events.push(...sampleSession(store.blobs));
      return events;
    });
    const io = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'lab', format: 'jsonl' }, io)).toBe(0);
    const lines = io.out.join('').split('\n').filter(Boolean);
    expect(JSON.parse(lines[0]!)).toMatchObject({ schemaVersion: 1, session: { name: 'lab' } });
    expect(lines.slice(1).map((line) => JSON.parse(line))).toEqual(events);
  });

  it('applies --filter to JSONL: only the matching flows and their connections', async () => {
    await record('lab', (store) => sampleSession(store.blobs));
    const io = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'jsonl', filter: '~ws' }, io)).toBe(0);
    const events = io.out.join('').split('\n').filter(Boolean).slice(1).map((line) => JSON.parse(line) as ProxyEvent);
    expect(new Set(events.map((e) => ('conn' in e ? e.conn : null)))).toEqual(new Set(['c2']));
    expect(events.filter((e) => e.type === 'ws-message')).toHaveLength(2);
  });

  it('exports the key log lines of both legs in NSS format', async () => {
    await record('lab', (store) => sampleSession(store.blobs));
    const io = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'keylog' }, io)).toBe(0);
    const lines = io.out.join('').split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^# mitmlab key log/);
    const keys = lines.slice(1);
    expect(keys).toHaveLength(4);
    for (const line of keys) expect(line).toMatch(/^CLIENT_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]{64}$/);
    expect(new Set(keys.map((line) => line.split(' ')[2]!.slice(0, 2)))).toEqual(new Set(['cd', 'ef']));
  });

  it('refuses a bad filter and a binary format on the terminal, with exit code 2', async () => {
    await record('lab', (store) => sampleSession(store.blobs));
    const io = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'har', filter: '~c' }, io)).toBe(2);
    expect(io.err.join()).toMatch(/bad --filter at character/);
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'pcapng' }, io)).toBe(2);
    expect(io.err.join()).toMatch(/-o FILE/);
  });

  it('writes pcapng to a binary standard output stream', async () => {
    await record('lab', (store) => sampleSession(store.blobs));
    const io = fakeIo();
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'pcapng' }, { ...io, stdoutStream: stream })).toBe(0);
    expect(Buffer.concat(chunks).readUInt32LE(0)).toBe(0x0a0d0d0a);
  });

  it('says why a pcapng export holds no TLS connection', async () => {
    await record('lab', (store) => sampleSession(store.blobs).filter((event) => event.type !== 'tls-transcript'));
    const io = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'pcapng', out: join(dataDir, 'empty.pcapng') }, io)).toBe(0);
    expect(io.err.join('\n')).toMatch(/exported 0 TLS legs[\s\S]*Plain-HTTP traffic has none[\s\S]*recorded when a connection closes/);
  });

  it('skips a line of the wrong shape with a warning, in every format, instead of failing the export', async () => {
    const id = await record('lab', (store) => sampleSession(store.blobs));
    const bad = [
      '{"type":"http-request","at":5,"id":"zz.1","conn":"zz","headers":7,"url":12,"method":null,"body":null}',
      '{"type":"tls-keylog","at":5,"conn":"c1","leg":"client","line":7}',
      '{"type":"tls-client-hello","at":5,"conn":"c1","leg":"client","hello":null}',
    ];
    await appendFile(join(dataDir, 'sessions', id, 'events.jsonl'), bad.join('\n') + '\n');
    for (const format of ['har', 'jsonl', 'keylog', 'pcapng'] as const) {
      const io = fakeIo();
      const out = join(dataDir, `out.${format}`);
      expect(await runExportCommand({ dataDir, session: 'latest', format, out }, io), format).toBe(0);
      expect(io.err.join(''), format).toMatch(format === 'jsonl' ? /skipped 3 unreadable lines/ : /skipped unreadable line \d+ \((http-request: method|tls-keylog: line) is not a string\)/);
    }
    const har = JSON.parse(await readFile(join(dataDir, 'out.har'), 'utf8')) as { log: { entries: unknown[] } };
    expect(har.log.entries).toHaveLength(5);
    // The session can still be continued: its flows are read back through the same checks.
    const store = await SessionStore.open({ dataDir, session: 'lab', onWarning: () => {} });
    expect(store.id).toBe(id);
    await store.close();
  });

  it('fails with exit code 1 and a hint for an unknown session, leaving no partial file', async () => {
    const io = fakeIo();
    const out = join(dataDir, 'x.har');
    expect(await runExportCommand({ dataDir, session: 'nope', format: 'har', out }, io)).toBe(1);
    expect(io.err.join()).toMatch(/No session "nope".*mitmlab sessions/);
    expect(await readdir(dataDir)).not.toContain('x.har');
  });

  it('writes through a symlink and into a FIFO instead of replacing them', async () => {
    await record('lab', (store) => sampleSession(store.blobs));
    const real = join(dataDir, 'real.jsonl');
    const link = join(dataDir, 'link.jsonl');
    await writeFile(real, 'old');
    await symlink(real, link);
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'jsonl', out: link }, fakeIo())).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await readFile(real, 'utf8')).split('\n')[0]).toContain('schemaVersion');

    const fifo = join(dataDir, 'fifo');
    await run('mkfifo', [fifo]);
    const reader = readFile(fifo, 'utf8');
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'jsonl', out: fifo }, fakeIo())).toBe(0);
    expect((await reader).split('\n')[0]).toContain('schemaVersion');
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    expect((await readdir(dataDir)).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it('an unknown session opens no output: a FIFO without a reader is not waited for, a dangling link creates nothing', async () => {
    await record('lab', (store) => sampleSession(store.blobs));
    const fifo = join(dataDir, 'lonely-fifo');
    await run('mkfifo', [fifo]);
    const io = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'nope', format: 'jsonl', out: fifo }, io)).toBe(1);
    expect(io.err.join()).toMatch(/No session "nope"/);
    const dangling = join(dataDir, 'dangling.jsonl');
    await symlink(join(dataDir, 'made-by-export.jsonl'), dangling);
    expect(await runExportCommand({ dataDir, session: 'nope', format: 'jsonl', out: dangling }, fakeIo())).toBe(1);
    expect(await readdir(dataDir)).not.toContain('made-by-export.jsonl');
    // A dangling link with a session: its file is written whole, and the link kept.
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'jsonl', out: dangling }, fakeIo())).toBe(0);
    expect((await lstat(dangling)).isSymbolicLink()).toBe(true);
    expect((await readFile(join(dataDir, 'made-by-export.jsonl'), 'utf8')).split('\n')[0]).toContain('schemaVersion');
    // A chain of links that ends nowhere: the file at its end is written.
    await symlink(join(dataDir, 'chain-2'), join(dataDir, 'chain-1'));
    await symlink(join(dataDir, 'chain-end.jsonl'), join(dataDir, 'chain-2'));
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'jsonl', out: join(dataDir, 'chain-1') }, fakeIo())).toBe(0);
    expect((await readFile(join(dataDir, 'chain-end.jsonl'), 'utf8')).split('\n')[0]).toContain('schemaVersion');
    // A loop of links is refused in words.
    await symlink(join(dataDir, 'loop-b'), join(dataDir, 'loop-a'));
    await symlink(join(dataDir, 'loop-a'), join(dataDir, 'loop-b'));
    const loop = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'jsonl', out: join(dataDir, 'loop-a') }, loop)).toBe(2);
    expect(loop.err.join()).toMatch(/symbolic links form a loop/);
  });

  it('names the file the user gave when it cannot be written, and refuses a folder', async () => {
    await record('lab', (store) => sampleSession(store.blobs));
    const missing = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'har', out: join(dataDir, 'nope', 'x.har') }, missing)).toBe(1);
    expect(missing.err.join('\n')).toBe(`mitmlab: export failed: cannot write ${join(dataDir, 'nope', 'x.har')}: its folder does not exist`);
    const folder = fakeIo();
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'har', out: dataDir }, folder)).toBe(2);
    expect(folder.err.join('\n')).toBe(`mitmlab: cannot write ${dataDir}: it is a folder; name a file in it`);
  });

  it('shows progress on a TTY', async () => {
    await record('lab', (store) => sampleSession(store.blobs));
    const io = fakeIo(true);
    expect(await runExportCommand({ dataDir, session: 'latest', format: 'har', out: join(dataDir, 'p.har') }, io)).toBe(0);
    expect(io.err.some((line) => /^exporting 100% \(/.test(line))).toBe(true);
    const quiet = fakeIo(false);
    await runExportCommand({ dataDir, session: 'latest', format: 'har', out: join(dataDir, 'q.har') }, quiet);
    expect(quiet.err.some((line) => /%/.test(line))).toBe(false);
  });
});

describe("the live view's /api/export", () => {
  it('takes a session as the CLI does: an id, a name or latest, and answers an unknown one with null', async () => {
    const named = await record('lab', (store) => sampleSession(store.blobs));
    const newest = await record('other', (store) => sampleSession(store.blobs), Date.UTC(2026, 10, 22, 6, 0, 0));
    const exporter = hubExporter(dataDir, newest, async () => {});
    const fileOf = async (session: string | null) => (await exporter.open({ format: 'jsonl', session, filter: null, match: null }))?.fileName ?? null;
    expect(await fileOf(named)).toBe(`mitmlab-${named}.jsonl`);
    expect(await fileOf('lab')).toBe(await fileOf(named));
    expect(await fileOf('latest')).toBe(await fileOf(newest));
    expect(await fileOf(null)).toBe(await fileOf(newest));
    expect(await fileOf('nope')).toBeNull();
    expect(await fileOf('../sessions')).toBeNull();
  });
});

describe('mitmlab sessions', () => {
  it('lists id, name, start, end, flow count and size', async () => {
    const id = await record('lab one', (store) => sampleSession(store.blobs));
    const io = fakeIo();
    expect(await runSessionsCommand({ dataDir }, io)).toBe(0);
    expect(io.out[0]).toMatch(/^ID\s+NAME\s+STARTED \(UTC\)\s+ENDED \(UTC\)\s+FLOWS\s+SIZE\n$/);
    expect(io.out[1]).toMatch(new RegExp(`^${id}  lab one\\s+2026-11-22 05:00:00  2026-11-22 05:01:30\\s+7\\s+\\d+\\.\\d KiB\\n$`));
  });

  it('deletes a session and keeps the newest N', async () => {
    const ids = [
      await record('a', () => [], Date.UTC(2026, 0, 1, 0, 0, 0)),
      await record('b', () => [], Date.UTC(2026, 0, 1, 0, 0, 1)),
      await record('c', () => [], Date.UTC(2026, 0, 1, 0, 0, 2)),
      await record('d', () => [], Date.UTC(2026, 0, 1, 0, 0, 3)),
    ];
    const io = fakeIo();
    expect(await runSessionsCommand({ dataDir, delete: ids[3]!, retain: 2 }, io)).toBe(0);
    expect(io.err).toEqual([`deleted session ${ids[3]}`, `deleted 1 older session(s): ${ids[0]}`]);
    expect(io.out.slice(1).map((line) => line.split(' ')[0])).toEqual([ids[1], ids[2]]);
    expect(await runSessionsCommand({ dataDir, delete: 'nope' }, io)).toBe(1);
    expect(io.err.at(-1)).toMatch(/No session nope/);
    // A name is not enough to delete by (it may cover several runs): the answer gives the id instead.
    expect(await runSessionsCommand({ dataDir, delete: 'b' }, io)).toBe(1);
    expect(io.err.at(-1)).toBe(`mitmlab: --delete takes a session ID; "b" is a session name. Its ID: ${ids[1]}.`);
    const after = fakeIo();
    expect(await runSessionsCommand({ dataDir }, after)).toBe(0);
    expect(after.out.slice(1).map((line) => line.split(' ')[0])).toEqual([ids[1], ids[2]]);
  });

  it('says when there are no sessions yet', async () => {
    const io = fakeIo();
    expect(await runSessionsCommand({ dataDir: join(dataDir, 'empty') }, io)).toBe(0);
    expect(io.out[0]).toMatch(/No sessions in .* yet/);
  });
});
