// The e2e tests need the built live view (dist/ui). `npm install` builds it; this rebuilds it when the UI's sources
// are newer than the build (a developer's edit), under a lock so parallel test files never build at once.

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '../..');
const LOCK = path.join(repo, 'dist', '.ui-build.lock');

async function newestSource(): Promise<number> {
  let newest = 0;
  for (const dir of ['ui', 'server/protocol', 'server/tls']) {
    for (const entry of await readdir(path.join(repo, dir), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) newest = Math.max(newest, (await stat(path.join(entry.parentPath, entry.name))).mtimeMs);
    }
  }
  return newest;
}

async function builtAt(): Promise<number> {
  return stat(path.join(repo, 'dist', 'ui', 'index.html')).then((s) => s.mtimeMs).catch(() => 0);
}

/** Makes sure dist/ui is current. Waits (bounded) for another test file's build instead of starting a second one. */
export async function ensureUiBuilt(): Promise<void> {
  if ((await builtAt()) > (await newestSource())) return;
  await mkdir(path.dirname(LOCK), { recursive: true });
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      await mkdir(LOCK); // atomic: only one process gets it
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
      if ((await builtAt()) > (await newestSource())) return;
      continue;
    }
    try {
      if ((await builtAt()) > (await newestSource())) return;
      const { build } = await import('vite');
      await build({ configFile: path.join(repo, 'ui', 'vite.config.ts'), logLevel: 'warn' });
      return;
    } finally {
      await rm(LOCK, { recursive: true, force: true });
    }
  }
  throw new Error('timed out waiting for another test to build dist/ui');
}
