// `mkdir -p` that always ends. Node 20's own recursive mkdir spins forever, at full CPU, on a path whose folder can
// never be made although its parent exists: under /proc, mkdir answers ENOENT, and Node takes that to mean the parent
// is missing, makes the parent (EEXIST), and tries the folder again, without end (a --data-dir /proc/x hung there).

import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Creates `dir` and any missing parents with `mode`; resolves when it is a folder, rejects with the first failure. */
export async function makeDirs(dir: string, mode: number): Promise<void> {
  const path = resolve(dir);
  try {
    await mkdir(path, { mode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(path)).isDirectory()) return;
      throw error;
    }
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
    // The parent is missing: make it, then this folder once more. A second ENOENT is the answer, not a retry.
    await makeDirs(parent, mode);
    await mkdir(path, { mode }).catch(async (again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST' || !(await stat(path)).isDirectory()) throw again;
    });
  }
}
