// Shared fixtures for the certs tests: a lab CA in a fresh temp folder, and leaf keys. Generated per run.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { loadOrCreateCa, type CaOptions, type LabCa } from '../../../server/certs/ca.js';
import { generateLeafKey, type LeafKey } from '../../../server/certs/leaf-key.js';
import type { KeyType } from '../../../server/certs/sign.js';

const made: string[] = [];
// Registered in the root suite of each test file that imports this module: its temp folders go when it ends.
afterAll(async () => {
  await Promise.all(made.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

/** A new empty temp folder, removed after the test file. */
export async function tempDir(prefix = 'mitmlab-certs-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** A lab CA created in a new temp folder (inside it, as `ca/`). */
export async function freshCa(opts: Partial<CaOptions> = {}): Promise<LabCa> {
  const dir = path.join(await tempDir(), 'ca');
  return loadOrCreateCa({ ...opts, dir });
}

const leafKeys = new Map<KeyType, Promise<LeafKey>>();
/** One leaf key per type per test file. */
export function sharedLeafKey(type: KeyType): Promise<LeafKey> {
  let key = leafKeys.get(type);
  if (!key) leafKeys.set(type, (key = generateLeafKey(type)));
  return key;
}

/**
 * A PEM boundary line (RFC 7468 §2), e.g. pemLine('BEGIN', 'PRIVATE KEY'). Built at run time so that no test file holds
 * a literal key header: the repository's scan for committed key material stays meaningful.
 */
export function pemLine(edge: 'BEGIN' | 'END', label: string): string {
  return `-----${edge} ${label}-----`;
}
