// The HAR entries of a running test mitmlab's session, exported as `mitmlab export --format har` would, and checked
// against har-validator (an independent reading of HAR 1.2).

import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import { expect } from 'vitest';
import { exportSession } from '../../server/store/export.js';
import type { HarEntry } from '../../server/store/har-entry.js';
import type { TestMitmlab } from './mitmlab.js';

const harValidator = createRequire(import.meta.url)('har-validator') as { har(data: unknown): Promise<unknown> };

export async function harEntries(mitm: TestMitmlab): Promise<HarEntry[]> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await mitm.store.flush();
  await exportSession({ dataDir: mitm.store.dataDir, session: mitm.store.id, format: 'har' }, out);
  const har = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { log: { entries: HarEntry[] } };
  await expect(harValidator.har(har)).resolves.toBeTruthy();
  return har.log.entries;
}
