// JSONL export: the session's own event log, line for line (header first), minus damaged lines; with a filter,
// only the events of the matching flows and connections. Schema: README.md, "Sessions and exports".

import type { Writable } from 'node:stream';
import { includesEvent, writeOut, type Inclusion } from './export-io.js';
import { parseEvent, readLines, type ReadLogOptions } from './session-reader.js';
import { eventsPath } from './layout.js';

export interface JsonlExportOptions extends Pick<ReadLogOptions, 'onWarning' | 'onProgress'> {
  include?: Inclusion;
}

/** Writes the event stream of a session; resolves with the number of events written. */
export async function writeJsonl(dataDir: string, id: string, out: Writable, options: JsonlExportOptions = {}): Promise<number> {
  let first = true;
  let written = 0;
  let skipped = 0;
  const batch: string[] = [];
  let batchBytes = 0;
  const flushBatch = async (): Promise<void> => {
    if (batch.length === 0) return;
    await writeOut(out, batch.join(''));
    batch.length = 0;
    batchBytes = 0;
  };
  for await (const line of readLines(eventsPath(dataDir, id), options)) {
    if (first) {
      // The header line, as written.
      first = false;
      batch.push(`${line.toString()}\n`);
      continue;
    }
    const event = parseEvent(line);
    if (event === null) {
      skipped++;
      continue;
    }
    if (options.include && !includesEvent(options.include, event)) continue;
    const text = `${line.toString()}\n`;
    batch.push(text);
    batchBytes += text.length;
    written++;
    if (batchBytes > 256 * 1024) await flushBatch();
  }
  await flushBatch();
  if (skipped > 0) options.onWarning?.(`skipped ${skipped} unreadable lines`);
  return written;
}
