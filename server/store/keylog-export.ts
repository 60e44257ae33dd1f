// Key log export: the NSS key log lines of both legs
// (https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/), ready for SSLKEYLOGFILE consumers
// such as Wireshark's "(Pre)-Master-Secret log filename".

import type { Writable } from 'node:stream';
import { writeOut, type Inclusion } from './export-io.js';
import type { LoadedSession } from './sessions.js';
import type { ReadLogOptions } from './session-reader.js';

export interface KeylogExportOptions extends Pick<ReadLogOptions, 'onWarning' | 'onProgress'> {
  include?: Inclusion;
}

// Label, client random (64 hex) and secret (hex): anything else is not a key log line and is left out.
const KEYLOG_LINE = /^[A-Z0-9_]+ [0-9a-fA-F]{64} [0-9a-fA-F]+$/;

/** Writes the session's key log; resolves with the number of lines. */
export async function writeKeylog(session: LoadedSession, out: Writable, options: KeylogExportOptions = {}): Promise<number> {
  // NSS key log files allow comment lines starting with '#'.
  await writeOut(out, `# mitmlab key log, session ${session.id}: both legs (browser <-> mitmlab and mitmlab <-> origin)\n`);
  let written = 0;
  const reader = await session.open({ ...options, types: new Set(['tls-keylog']) });
  for await (const event of reader.events) {
    if (event.type !== 'tls-keylog' || (options.include && !options.include.conn(event.conn))) continue;
    const line = event.line.trim();
    if (!KEYLOG_LINE.test(line)) continue;
    await writeOut(out, `${line}\n`);
    written++;
  }
  return written;
}
