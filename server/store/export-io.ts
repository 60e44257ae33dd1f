// Shared plumbing of the exporters: backpressure-aware writes and the filter's "what to include" pre-pass.

import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { ConnId, FlowId, ProxyEvent } from '../protocol/events.js';
import { applyEvent, createFlowIndex } from '../protocol/flow-reducer.js';
import type { FlowSummary } from '../protocol/flows.js';
import type { LoadedSession } from './sessions.js';
import type { ReadLogOptions } from './session-reader.js';

/** Writes a chunk, waiting for 'drain' when the stream's buffer is full (so exports stream in bounded memory). */
export async function writeOut(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (out.write(chunk)) return;
  await once(out, 'drain');
}

/** Which flows and connections an export keeps. */
export interface Inclusion {
  flow(id: FlowId): boolean;
  conn(id: ConnId): boolean;
}

/** Keeps everything. */
export const INCLUDE_ALL: Inclusion = { flow: () => true, conn: () => true };

/**
 * Runs the flow reducer over the whole session and keeps the rows whose final state the filter matches (rows change
 * while a flow runs: its status arrives later, and a response recorded after its connection closed turns a row
 * that looked failed into a done one). A connection is kept when any of its kept rows is. Memory: the ids of the
 * matching rows, not the rows.
 */
export async function computeInclusion(
  session: LoadedSession,
  filter: (summary: FlowSummary) => boolean,
  options: ReadLogOptions = {},
): Promise<Inclusion> {
  const matching = new Map<FlowId, ConnId>();
  const index = createFlowIndex();
  const reader = await session.open(options);
  for await (const event of reader.events) {
    const row = applyEvent(index, event);
    if (!row) continue;
    if (safeFilter(filter, row)) matching.set(row.id, row.conn);
    else matching.delete(row.id);
  }
  // One event can change several rows (a connection's close fails every request still open on it) and reports one:
  // the rows still in memory are judged again on their final state.
  for (const row of index.flows.values()) {
    if (safeFilter(filter, row)) matching.set(row.id, row.conn);
    else matching.delete(row.id);
  }
  const conns = new Set(matching.values());
  return { flow: (id) => matching.has(id), conn: (id) => conns.has(id) };
}

function safeFilter(filter: (summary: FlowSummary) => boolean, row: FlowSummary): boolean {
  try {
    return filter(row);
  } catch {
    return false;
  }
}

/** Whether an event belongs to the export: flow events by flow, connection events by connection, the rest always. */
export function includesEvent(inclusion: Inclusion, event: ProxyEvent): boolean {
  const id = 'id' in event ? event.id : null;
  if (typeof id === 'string') return inclusion.flow(id);
  const conn = 'conn' in event ? event.conn : null;
  if (typeof conn === 'string') return inclusion.conn(conn);
  return true;
}
