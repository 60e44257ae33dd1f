import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDirs } from '../../../server/store/make-dirs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mitmlab-makedirs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('makeDirs', () => {
  it('makes missing parents with the mode, and accepts a folder that exists', async () => {
    const deep = join(dir, 'a', 'b', 'c');
    await makeDirs(deep, 0o700);
    expect((await stat(deep)).mode & 0o777).toBe(0o700);
    await expect(makeDirs(deep, 0o700)).resolves.toBeUndefined();
  });

  it('refuses a file in the way, and ends on a folder that can never be made', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await expect(makeDirs(join(dir, 'file'), 0o700)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(makeDirs(join(dir, 'file', 'below'), 0o700)).rejects.toMatchObject({ code: 'ENOTDIR' });
    // Node's own recursive mkdir loops forever here.
    await expect(makeDirs('/proc/mitmlab-never/deeper', 0o700)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
