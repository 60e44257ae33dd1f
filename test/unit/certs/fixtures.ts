// Shared fixtures for the certs tests: a lab CA in a fresh temp folder, and leaf keys. Generated per run.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateCa, type CaOptions, type LabCa } from '../../../server/certs/ca.js';
import { generateLeafKey, type LeafKey } from '../../../server/certs/leaf-key.js';
import type { KeyType } from '../../../server/certs/sign.js';

/** A new empty temp folder. */
export async function tempDir(prefix = 'mitmlab-certs-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
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
