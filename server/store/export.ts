// One entry point for every export format, shared by `mitmlab export` and the live view's REST API.
// All formats stream from the session's event log: memory stays bounded whatever the session size.

import { readFileSync } from 'node:fs';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { FlowSummary } from '../protocol/flows.js';
import { computeInclusion, type Inclusion } from './export-io.js';
import { writeHar } from './har-export.js';
import { writeJsonl } from './jsonl-export.js';
import { writeKeylog } from './keylog-export.js';
import { writePcapng } from './pcapng-export.js';
import { loadSession } from './sessions.js';
import { nodeStoreFs, type StoreFs } from './store-fs.js';

export type ExportFormat = 'har' | 'jsonl' | 'keylog' | 'pcapng';

export interface ExportOptions {
  dataDir: string;
  /** A session id, a --session name, or 'latest'. */
  session: string;
  format: ExportFormat;
  /** Keep only flows (and their connections) whose final state this predicate matches; see computeInclusion. */
  filter?: (summary: FlowSummary) => boolean;
  /** Told about damaged lines and missing blobs. */
  onWarning?: (message: string) => void;
  /** Bytes of the event log read so far, and its size (the filter adds a first pass: 0→total twice). */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  fs?: StoreFs;
}

export interface ExportResult {
  /** The session exported (resolved from 'latest' or a name). */
  id: string;
  format: ExportFormat;
  /** HAR entries, JSONL events, key log lines or pcapng legs written. */
  count: number;
}

/** Streams a session in `format` into `out` (not ended: the caller owns it). Throws StoreError for a bad session. */
export async function exportSession(options: ExportOptions, out: Writable): Promise<ExportResult> {
  const session = await loadSession(options.dataDir, options.session, options.fs ?? nodeStoreFs);
  const common = { onWarning: options.onWarning, onProgress: options.onProgress };
  try {
    let include: Inclusion | undefined;
    if (options.filter) include = await computeInclusion(session, options.filter, common);
    const withInclude = include ? { ...common, include } : common;
    let count: number;
    switch (options.format) {
      case 'har':
        count = await writeHar(session, out, { ...withInclude, creator: { name: 'mitmlab', version: VERSION } });
        break;
      case 'jsonl':
        count = await writeJsonl(options.dataDir, session.id, out, withInclude);
        break;
      case 'keylog':
        count = await writeKeylog(session, out, withInclude);
        break;
      case 'pcapng':
        count = await writePcapng(session, out, withInclude);
        break;
    }
    return { id: session.id, format: options.format, count };
  } finally {
    await session.close();
  }
}

/** The same export as a Readable (for HTTP responses); errors destroy the stream. */
export function exportStream(options: ExportOptions): Readable {
  const stream = new PassThrough();
  exportSession(options, stream).then(
    () => stream.end(),
    (error: unknown) => stream.destroy(error instanceof Error ? error : new Error(String(error))),
  );
  return stream;
}

const EXTENSIONS: Record<ExportFormat, string> = { har: 'har', jsonl: 'jsonl', keylog: 'keys.txt', pcapng: 'pcapng' };

/** A download name for an export, e.g. `mitmlab-2026-11-22T05-10-00Z-ab12.har`. */
export function exportFileName(sessionId: string, format: ExportFormat): string {
  return `mitmlab-${sessionId}.${EXTENSIONS[format]}`;
}

/** mitmlab's version for the HAR creator, from package.json (source and dist layouts), else '0'. */
const VERSION = ((): string => {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'mitmlab' && pkg.version) return pkg.version;
    } catch {
      // try the next layout
    }
  }
  return '0';
})();
