// Streaming reader of a session's events.jsonl: constant memory whatever the file size (issue 4 §5). Never throws on
// a damaged file: a torn last line (the write a crash cut short) and any unparseable line are skipped with a warning.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ProxyEvent, ProxyEventType } from '../protocol/events.js';
import { eventProblem } from '../protocol/event-shape.js';
import { SCHEMA_VERSION, StoreError } from './layout.js';

/** First line of events.jsonl. */
export interface SessionHeader {
  schemaVersion: number;
  session: { id: string; name: string | null; startedAt: number };
}

export interface ReadLogOptions {
  /** Told about skipped lines (torn tail, corrupt line, unknown event type). */
  onWarning?: (message: string) => void;
  /** Bytes read so far and the file size, after each chunk. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  /** Only parse events of these types (a cheap text pre-check skips the other lines unparsed). */
  types?: ReadonlySet<ProxyEventType>;
  /** Lines longer than this are skipped (default 64 MiB). */
  maxLineBytes?: number;
}

/** Complete lines of a file (without the newline), in order; a last line without its newline is reported as torn. */
export async function* readLines(path: string, options: ReadLogOptions = {}): AsyncGenerator<Buffer> {
  const warn = options.onWarning ?? (() => {});
  const maxLine = options.maxLineBytes ?? 64 * 1024 * 1024;
  const total = (await stat(path)).size;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let skipping = false;
  let read = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    read += chunk.length;
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (skipping) {
        skipping = false;
        continue;
      }
      const line = carry.length === 0 ? piece : Buffer.concat([...carry, piece]);
      carry = [];
      carryBytes = 0;
      yield line;
    }
    if (start < chunk.length && !skipping) {
      // Copy: the stream may reuse its chunk buffers.
      carry.push(Buffer.from(chunk.subarray(start)));
      carryBytes += chunk.length - start;
      if (carryBytes > maxLine) {
        warn(`${path}: skipped a line longer than ${maxLine} bytes`);
        carry = [];
        carryBytes = 0;
        skipping = true;
      }
    }
    options.onProgress?.(read, total);
  }
  if (carryBytes > 0 || skipping) {
    warn(`${path}: the last line was cut off (unclean shutdown?); skipped ${carryBytes} bytes`);
  }
}

/** Parses the header line, or null when the first line is not one. Throws only for a newer, unsupported schema. */
export function parseHeader(line: Buffer | string): SessionHeader | null {
  let value: unknown;
  try {
    value = JSON.parse(line.toString());
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || !('schemaVersion' in value) || typeof value.schemaVersion !== 'number') {
    return null;
  }
  if (value.schemaVersion > SCHEMA_VERSION) {
    throw new StoreError(
      'unsupported-schema',
      `This session was written with schema version ${value.schemaVersion}; this mitmlab reads up to ${SCHEMA_VERSION}. Upgrade mitmlab to open it.`,
    );
  }
  return value as SessionHeader;
}

/** Parses an event line; null for anything that is not a well-formed event of a known type. */
export function parseEvent(line: Buffer | string): ProxyEvent | null {
  const read = readEvent(line);
  return typeof read === 'string' ? null : read;
}

/** Parses an event line: the event, or why the line is not one (not JSON, unknown type, wrong shape). */
export function readEvent(line: Buffer | string): ProxyEvent | string {
  let value: unknown;
  try {
    value = JSON.parse(line.toString());
  } catch {
    return 'not JSON';
  }
  return eventProblem(value) ?? (value as ProxyEvent);
}

/** The header and events of an events.jsonl file, streamed. */
export interface EventLogReader {
  header: SessionHeader | null;
  events: AsyncGenerator<ProxyEvent>;
}

/** Reads a session log: the header first (awaited), then events as an async generator. */
export async function openEventLog(path: string, options: ReadLogOptions = {}): Promise<EventLogReader> {
  const warn = options.onWarning ?? (() => {});
  const lines = readLines(path, options);
  const first = await lines.next();
  let header: SessionHeader | null = null;
  let pendingFirst: Buffer | null = null;
  if (!first.done) {
    header = parseHeader(first.value);
    if (header === null) {
      warn(`${path}: no session header on the first line`);
      pendingFirst = first.value;
    }
  }
  const needles = options.types ? [...options.types].map((type) => Buffer.from(`"type":"${type}"`)) : null;
  async function* events(): AsyncGenerator<ProxyEvent> {
    let skipped = 0;
    let lineNo = 1;
    const handle = (line: Buffer): ProxyEvent | null => {
      lineNo++;
      if (line.length === 0) return null;
      // Cheap pre-check: a line that cannot be of a wanted type is not parsed at all.
      if (needles && !needles.some((needle) => line.includes(needle))) return null;
      const event = readEvent(line);
      if (typeof event === 'string') {
        if (skipped < 5) warn(`${path}: skipped unreadable line ${lineNo} (${event})`);
        skipped++;
        return null;
      }
      if (options.types && !options.types.has(event.type)) return null;
      return event;
    };
    try {
      if (pendingFirst) {
        lineNo = 0;
        const event = handle(pendingFirst);
        if (event) yield event;
      }
      for await (const line of lines) {
        const event = handle(line);
        if (event) yield event;
      }
    } finally {
      await lines.return(undefined);
      if (skipped > 5) warn(`${path}: skipped ${skipped} unreadable lines in all`);
    }
  }
  return { header, events: events() };
}
