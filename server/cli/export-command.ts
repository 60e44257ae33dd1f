// `mitmlab export [--session ID|NAME|latest] --format har|jsonl|keylog|pcapng [-o FILE] [--filter EXPR]` (the newest session when none is named).
// Streams the export (bounded memory), to a file (written under a temporary name, renamed when complete; a FIFO or a
// device is written in place) or to standard output, with progress on a TTY.
// Exit codes: 0 ok, 1 export failed, 2 bad usage, 130/143 interrupted.

import { createWriteStream, rmSync } from 'node:fs';
import { lstat, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { parseFilter } from '../protocol/filter.js';
import type { FlowSummary } from '../protocol/flows.js';
import { exportSession, type ExportFormat, type ExportResult } from '../store/export.js';
import { StoreError } from '../store/layout.js';
import { recordedSessionIds, resolveSession } from '../store/sessions.js';
import { formatBytes, type CommandIo } from './sessions-command.js';

export interface ExportCommandOptions {
  dataDir: string;
  /** A session id, a --session name, or 'latest'. */
  session: string;
  format: ExportFormat;
  /** Output file; standard output when absent. */
  out?: string;
  /** A filter expression (server/protocol/filter.ts). */
  filter?: string;
}

export interface ExportIo extends CommandIo {
  /** Binary-safe standard output (process.stdout); needed for pcapng without -o, used for every format when set. */
  stdoutStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Raw standard error, for progress updated in place ("\r"); without it progress prints a line per 10%. */
  stderrStream?: NodeJS.WritableStream;
}

const NOUNS: Record<ExportFormat, string> = { har: 'HAR entries', jsonl: 'events', keylog: 'key log lines', pcapng: 'TLS legs' };

/** Runs `mitmlab export`; resolves to the exit code. */
export async function runExportCommand(options: ExportCommandOptions, io: ExportIo): Promise<number> {
  let filter: ((summary: FlowSummary) => boolean) | undefined;
  if (options.filter !== undefined && options.filter.trim() !== '') {
    const parsed = parseFilter(options.filter);
    if (!parsed.ok) {
      io.stderr(`mitmlab: bad --filter at character ${parsed.offset + 1}: ${parsed.error}`);
      return 2;
    }
    filter = parsed.match;
  }
  if (options.out === undefined && options.format === 'pcapng' && (!io.stdoutStream || io.stdoutStream.isTTY)) {
    io.stderr('mitmlab: pcapng is binary: write it to a file with -o FILE (or pipe standard output into a program).');
    return 2;
  }

  // The session first: a FIFO or a new file is opened only for an export that can happen.
  let session: string;
  try {
    session = await resolveSession(options.dataDir, options.session);
  } catch (error) {
    io.stderr(`mitmlab: ${error instanceof StoreError ? error.message : `export failed: cannot read sessions in ${options.dataDir}: ${(error as Error).message}. Is --data-dir the folder mitmlab start used?`}`);
    return 1;
  }
  const progress = io.isTTY ? progressReporter(io) : undefined;
  const warnings: string[] = [];
  const common = {
    dataDir: options.dataDir,
    session,
    format: options.format,
    onWarning: (message: string) => warnings.push(message),
    ...(filter ? { filter } : {}),
    ...(progress ? { onProgress: progress.update } : {}),
  };
  let result: ExportResult;
  const target = options.out !== undefined ? await outputTarget(options.out).catch(refusal) : null;
  if (target?.kind === 'refused') {
    io.stderr(`mitmlab: cannot write ${options.out}: ${target.reason}`);
    return 2;
  }
  const temp = target?.kind === 'replace' ? `${target.path}.tmp-${process.pid}` : null;
  // Ctrl-C or a SIGTERM mid-export must not leave the temporary file behind.
  const interrupted = (signal: NodeJS.Signals): void => {
    if (temp !== null) rmSync(temp, { force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  if (temp !== null) {
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
  }
  try {
    if (target) {
      const file = createWriteStream(temp ?? target.path, { mode: 0o600 });
      const failed = new Promise<never>((_, reject) => file.once('error', reject));
      result = await Promise.race([exportSession(common, file), failed]);
      await Promise.race([new Promise<void>((resolve) => file.end(resolve)), failed]);
      if (temp !== null) await rename(temp, target.path);
    } else {
      const out = io.stdoutStream ?? lineWriter(io.stdout);
      result = await exportSession(common, out as Writable);
      if (!io.stdoutStream) await new Promise<void>((resolve) => (out as Writable).end(resolve));
    }
  } catch (error) {
    progress?.done();
    if (temp !== null) await unlink(temp).catch(() => {});
    if (error instanceof StoreError) {
      io.stderr(`mitmlab: ${error.message}`);
      return 1;
    }
    // The reader of standard output left (`| head`): it has what it wanted, and that is no failure.
    if (target === null && (error as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    const code = (error as NodeJS.ErrnoException).code;
    // A file-system error names the file the user gave, not the temporary one beside it.
    if (options.out !== undefined && code && (error as NodeJS.ErrnoException).syscall) {
      io.stderr(`mitmlab: export failed: cannot write ${options.out}: ${WRITE_ERRORS[code] ?? code}`);
      return 1;
    }
    io.stderr(`mitmlab: export failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  progress?.done();
  // Warnings are summarised: a damaged log can produce many.
  for (const warning of warnings.slice(0, 5)) io.stderr(`warning: ${warning}`);
  if (warnings.length > 5) io.stderr(`warning: …and ${warnings.length - 5} more`);
  io.stderr(`exported ${result.count} ${NOUNS[result.format]} of session ${result.id}${options.out !== undefined ? ` to ${options.out}` : ''}`);
  // The newest session may be one that recorded nothing (a start stopped at once): the lab's session is then an
  // older one, which an export that says only "0 entries" would leave the user to guess.
  const latest = options.session === 'latest';
  if (latest && result.count === 0 && (await recordedSessionIds(options.dataDir).catch(() => [])).length > 1) {
    io.stderr(`note: ${result.id} is the newest session and had nothing to export; \`mitmlab sessions\` lists the others (choose one with --session)`);
  }
  if (result.format === 'pcapng' && result.count === 0) {
    io.stderr(
      'note: no TLS connection here has its raw bytes on record. Plain-HTTP traffic has none, a --filter may match none, and the bytes are recorded when a connection closes, so connections still open when mitmlab was killed (not stopped) have none; `--format keylog` has their keys.',
    );
  }
  return 0;
}

function errorCodeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** An output that could not even be looked at (a folder on the way that cannot be read…), in words. */
function refusal(error: unknown): { kind: 'refused'; reason: string } {
  const code = errorCodeOf(error);
  return { kind: 'refused', reason: (code && WRITE_ERRORS[code]) ?? code ?? String(error) };
}

const WRITE_ERRORS: Record<string, string> = {
  ELOOP: 'its symbolic links form a loop',
  ENOENT: 'its folder does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a part of the path is not a folder',
};

/**
 * Where -o writes. A regular file (new or existing, also through a symlink) is written beside itself and renamed over
 * when complete, so a failed export never leaves half a file. Anything else that exists (a FIFO, /dev/stdout, a
 * terminal) is written in place: renaming over it would replace the device or the link instead of writing to it.
 */
async function outputTarget(out: string): Promise<{ kind: 'replace' | 'stream'; path: string } | { kind: 'refused'; reason: string }> {
  let real: string;
  try {
    real = await realpath(out);
  } catch (error) {
    if (errorCodeOf(error) === 'ELOOP') return { kind: 'refused', reason: 'its symbolic links form a loop' };
    const link = await lstat(out).catch(() => null);
    if (!link?.isSymbolicLink()) return { kind: 'replace', path: out }; // nothing there yet: a new file
    // A link to nothing (through any chain of links): the file it names is created, beside itself and renamed when
    // complete, like any other.
    let target = out;
    for (let hops = 0; hops < 40; hops++) {
      const next = await lstat(target).catch(() => null);
      if (next === null) return { kind: 'replace', path: target };
      if (!next.isSymbolicLink()) break;
      target = resolve(dirname(target), await readlink(target));
    }
    return { kind: 'refused', reason: 'its symbolic links lead nowhere it can write' };
  }
  const stats = await stat(real);
  if (stats.isDirectory()) return { kind: 'refused', reason: 'it is a folder; name a file in it' };
  return { kind: stats.isFile() ? 'replace' : 'stream', path: real };
}

/** Text output through io.stdout, which ends each call with a newline: hand it whole lines only. */
function lineWriter(write: (text: string) => void): Writable {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const text = carry + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
      const end = text.lastIndexOf('\n');
      if (end >= 0) {
        write(text.slice(0, end + 1));
        carry = text.slice(end + 1);
      } else carry = text;
      callback();
    },
    final(callback) {
      const rest = carry + decoder.end();
      if (rest) write(rest);
      callback();
    },
  });
}

/** Progress on standard error: in place with a raw stream, else one line per 10%. */
function progressReporter(io: ExportIo): { update: (read: number, total: number) => void; done: () => void } {
  let pass = 0;
  let lastRead = 0;
  let lastTenth = -1;
  let shown = false;
  return {
    update(read, total) {
      // Filters and HAR's _tlsErrors read the log more than once: each pass restarts at 0.
      if (read < lastRead) {
        pass++;
        lastTenth = -1;
      }
      lastRead = read;
      const label = pass === 0 ? 'exporting' : `exporting, pass ${pass + 1}`;
      const percent = total > 0 ? Math.min(100, Math.floor((read / total) * 100)) : 100;
      const text = `${label} ${percent}% (${formatBytes(read)} of ${formatBytes(total)})`;
      if (io.stderrStream) {
        io.stderrStream.write(`\r${text}\u001b[K`);
        shown = true;
      } else if (Math.floor(percent / 10) !== lastTenth) {
        lastTenth = Math.floor(percent / 10);
        io.stderr(text);
      }
    },
    done() {
      if (shown) io.stderrStream?.write('\r\u001b[K');
    },
  };
}
