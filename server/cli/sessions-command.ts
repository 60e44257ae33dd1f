// `mitmlab sessions [--delete ID] [--retain N]`: lists recorded sessions (id, name, start, end, flows, size), after
// deleting one or keeping only the newest N. Exit codes: 0 ok, 1 the store refused (unknown or live session).

import { StoreError } from '../store/layout.js';
import { applyRetention, deleteSession, listSessions, type SessionInfo } from '../store/sessions.js';

export interface SessionsCommandOptions {
  dataDir: string;
  /** A session id to delete first. */
  delete?: string;
  /** Keep only the newest N sessions. */
  retain?: number;
}

export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
  isTTY: boolean;
}

/** Runs `mitmlab sessions`; resolves to the exit code. */
export async function runSessionsCommand(options: SessionsCommandOptions, io: CommandIo): Promise<number> {
  try {
    if (options.delete !== undefined) {
      // Deleting takes an id only: a name can cover several runs of a session, and a guess would lose data.
      const named = (await listSessions(options.dataDir)).filter((session) => session.name === options.delete);
      if (named.length > 0) {
        io.stderr(`mitmlab: --delete takes a session ID; "${options.delete}" is a session name. Its ID: ${named.map((session) => session.id).join(', ')}.`);
        return 1;
      }
      await deleteSession(options.dataDir, options.delete);
      io.stderr(`deleted session ${options.delete}`);
    }
    if (options.retain !== undefined) {
      const deleted = await applyRetention(options.dataDir, options.retain, { onWarning: (message) => io.stderr(`warning: ${message}`) });
      io.stderr(deleted.length > 0 ? `deleted ${deleted.length} older session(s): ${deleted.join(', ')}` : `nothing to delete: at most ${options.retain} session(s) kept`);
    }
    const sessions = await listSessions(options.dataDir);
    if (sessions.length === 0) {
      io.stdout(`No sessions in ${options.dataDir} yet: \`mitmlab start\` records one.`);
      return 0;
    }
    for (const line of formatSessionTable(sessions)) io.stdout(line);
    return 0;
  } catch (error) {
    if (error instanceof StoreError) {
      io.stderr(`mitmlab: ${error.message}`);
      return 1;
    }
    io.stderr(`mitmlab: cannot read sessions in ${options.dataDir}: ${error instanceof Error ? error.message : String(error)}. Is --data-dir the folder mitmlab start used?`);
    return 1;
  }
}

/** The session list as aligned text lines, header first. Pure. */
export function formatSessionTable(sessions: readonly SessionInfo[]): string[] {
  const rows = sessions.map((s) => [
    s.id,
    s.name ?? '-',
    formatTime(s.startedAt),
    s.state === 'live' ? 'recording' : s.state === 'interrupted' ? `interrupted ${s.lastEventAt !== null ? formatTime(s.lastEventAt) : ''}`.trim() : formatTime(s.endedAt!),
    String(s.flowCount),
    formatBytes(s.bytes),
  ]);
  const header = ['ID', 'NAME', 'STARTED (UTC)', 'ENDED (UTC)', 'FLOWS', 'SIZE'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 4 || i === 5 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
