import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppendLog } from '../../../server/store/append-log.js';
import { failingFs } from './failing-fs.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mitmlab-log-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('append log', () => {
  it('rewrites a short write in place, so a failed flush never leaves a torn line behind', async () => {
    const { fs, control } = failingFs();
    const path = join(dir, 'log.jsonl');
    const log = await AppendLog.open(fs, path, { maxBufferBytes: 1 << 20 });
    log.append('{"n":1}');
    await log.flush();
    control.code = 'ENOSPC';
    control.shortWriteFirst = true;
    log.append('{"n":22}');
    log.append('{"n":3}');
    await expect(log.flush()).rejects.toMatchObject({ code: 'ENOSPC' });
    // Half of the batch reached the disk: a torn tail, exactly what a crash right now would leave.
    expect(await readFile(path, 'utf8')).toBe('{"n":1}\n{"n":22}');
    log.append('{"n":4}');
    control.code = null;
    await log.flush();
    await log.close();
    expect(await readFile(path, 'utf8')).toBe('{"n":1}\n{"n":22}\n{"n":3}\n{"n":4}\n');
  });

  it('cuts a torn tail back to the last newline when reopened', async () => {
    const path = join(dir, 'log.jsonl');
    await writeFile(path, '{"n":1}\n{"n":2}\n{"n":');
    const torn: number[] = [];
    const log = await AppendLog.open(failingFs().fs, path, { maxBufferBytes: 1 << 20 }, (bytes) => torn.push(bytes));
    expect(torn).toEqual([5]);
    log.append('{"n":3}');
    await log.close();
    expect(await readFile(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n{"n":3}\n');
  });

  it('drops lines beyond the buffer bound and counts them', async () => {
    const { fs, control } = failingFs();
    const log = await AppendLog.open(fs, join(dir, 'log.jsonl'), { maxBufferBytes: 20 });
    control.code = 'EACCES';
    expect(log.append('0123456789')).toBe(true);
    expect(log.append('0123456789')).toBe(false);
    expect(log.append('x', true)).toBe(true);
    expect(log.takeDropped()).toBe(1);
    expect(log.takeDropped()).toBe(0);
    await expect(log.flush()).rejects.toMatchObject({ code: 'EACCES' });
    control.code = null;
    await log.close();
  });
});
