// Streams a session as one HAR 1.2 document: the prefix, then the entries in the order their requests started, each
// as soon as its flow and every flow that started before it are complete, then the suffix with `_tlsErrors`. Memory
// holds only the flows still open at a point of the log and the entries waiting behind them (both bounded), never
// the whole session, so a 1 GB session exports like a small one.

import type { Writable } from 'node:stream';
import type { ConnId, EventOf, FlowId, ProxyEvent } from '../protocol/events.js';
import { assertNever } from '../protocol/events.js';
import {
  buildHarEntry,
  emptyConnTls,
  emptyFlowEvents,
  harTlsError,
  type ConnTlsEvents,
  type FlowEvents,
} from './har-entry.js';
import { INCLUDE_ALL, writeOut, type Inclusion } from './export-io.js';
import { StartOrderBuffer } from './start-order.js';
import type { LoadedSession } from './sessions.js';
import type { ReadLogOptions } from './session-reader.js';

export interface HarExportOptions extends Pick<ReadLogOptions, 'onWarning' | 'onProgress'> {
  include?: Inclusion;
  creator?: { name: string; version: string };
  /** Flows kept open at once before the oldest is written as incomplete (default 10,000). */
  maxOpenFlows?: number;
  /** WebSocket message bytes kept per entry (default 64 MiB); later messages are counted, not exported. */
  maxWsBytesPerEntry?: number;
  /** JSON characters of completed entries held back for start order (default 64 Mi); past it they go out as they are. */
  maxHeldBytes?: number;
}

/** Connections whose TLS facts are kept at once (connections normally end with connection-close). */
const MAX_OPEN_CONNS = 100_000;
/**
 * How long (in event time) a closed connection's flows stay open: the proxy emits a response once its body is
 * decoded, which can be after the connection closed.
 */
const CLOSE_GRACE_MS = 10_000;
// Origin connections whose handshake a later connection may still show (each holds two events): the most recent ones.
// A pooled connection is reused within --idle-timeout, well within this many handshakes at any realistic rate.
const MAX_ORIGIN_LEGS = 4_096;

/** Writes the HAR of `session` to `out`; resolves with the number of entries written. */
export async function writeHar(session: LoadedSession, out: Writable, options: HarExportOptions = {}): Promise<number> {
  const include = options.include ?? INCLUDE_ALL;
  const maxOpen = options.maxOpenFlows ?? 10_000;
  const maxWsBytes = options.maxWsBytesPerEntry ?? 64 * 1024 * 1024;
  const creator = options.creator ?? { name: 'mitmlab', version: '0' };
  const conns = new Map<ConnId, ConnTlsEvents>();
  const flows = new Map<FlowId, FlowEvents & { wsBytes: number }>();
  const held = new StartOrderBuffer(options.maxHeldBytes ?? 64 * 1024 * 1024);
  let written = 0;

  const comment = `mitmlab session ${session.id}${session.info.name ? ` (${session.info.name})` : ''}`;
  await writeOut(out, `{"log":{"version":"1.2","creator":${JSON.stringify(creator)},"comment":${JSON.stringify(comment)},"entries":[\n`);

  const finish = async (id: FlowId): Promise<void> => {
    const flow = flows.get(id);
    if (!flow) return;
    flows.delete(id);
    if (!include.flow(id)) return;
    const bodies = new Map<string, Buffer | null>();
    for (const ref of [flow.request?.body, flow.response?.body]) {
      if (ref && !bodies.has(ref.sha256)) bodies.set(ref.sha256, await session.blob(ref.sha256).catch(() => null));
    }
    const entry = buildHarEntry(flow, conns.get(flow.conn) ?? emptyConnTls(), (sha) => bodies.get(sha));
    if (entry) held.add(Date.parse(entry.startedDateTime), JSON.stringify(entry));
  };
  const writeEntries = async (texts: string[]): Promise<void> => {
    for (const text of texts) {
      await writeOut(out, `${written > 0 ? ',\n' : ''}${text}`);
      written++;
    }
  };
  /** When the earliest flow still open started (null when none is): entries that started before it may go out. */
  const openFrom = (): number | null => {
    // Flows are kept in the order they were first seen, which is close to start order; one seen without its request
    // yet (an error recorded first) has no start to wait for.
    for (const flow of flows.values()) {
      const at = flow.request?.at ?? flow.wsOpen?.at;
      if (at !== undefined) return at;
    }
    return null;
  };
  const flowOf = (id: FlowId, conn: ConnId) => {
    let flow = flows.get(id);
    if (!flow) {
      flow = { ...emptyFlowEvents(id, conn), wsBytes: 0 };
      flows.set(id, flow);
    }
    return flow;
  };
  const connOf = (conn: ConnId): ConnTlsEvents => {
    let tls = conns.get(conn);
    if (!tls) {
      tls = emptyConnTls();
      conns.set(conn, tls);
      if (conns.size > MAX_OPEN_CONNS) conns.delete(conns.keys().next().value as ConnId);
    }
    return tls;
  };

  // The upstream leg of each origin connection's handshake, by the connection that opened it, kept past its close:
  // a later connection that reused the origin connection ('upstream-reused') shows the same leg.
  const originLegs = new Map<ConnId, ConnTlsEvents['upstream']>();
  const reuse = (event: EventOf<'upstream-reused'>): void => {
    const leg = originLegs.get(event.from);
    // A copy: the reusing connection may open an origin connection of its own later, which must not rewrite this one.
    if (leg) connOf(event.conn).upstream = { ...leg };
  };
  const keepOriginLeg = (event: ProxyEvent): void => {
    if (event.type !== 'tls-established' || event.leg !== 'upstream') return;
    originLegs.delete(event.conn);
    originLegs.set(event.conn, { ...connOf(event.conn).upstream });
    if (originLegs.size > MAX_ORIGIN_LEGS) originLegs.delete(originLegs.keys().next().value as ConnId);
  };

  /** Closed connections (in close order) whose flows are written once the grace period has passed. */
  const closed = new Map<ConnId, number>();
  const finishConn = async (conn: ConnId): Promise<void> => {
    closed.delete(conn);
    for (const flow of [...flows.values()]) if (flow.conn === conn) await finish(flow.id);
    conns.delete(conn);
  };

  const reader = await session.open({ onWarning: options.onWarning, onProgress: options.onProgress });
  for await (const event of reader.events) {
    const done = fold(event, flowOf, connOf, maxWsBytes);
    if (event.type === 'upstream-reused') reuse(event);
    else keepOriginLeg(event);
    if (done.finished) await finish(done.finished);
    if (done.closedConn) closed.set(done.closedConn, event.at);
    for (const [conn, at] of closed) {
      if (event.at - at < CLOSE_GRACE_MS) break;
      await finishConn(conn);
    }
    // A flow open this long is probably a crash leftover; write it as it stands rather than hold it forever.
    while (flows.size > maxOpen) await finish(flows.keys().next().value as FlowId);
    if (held.size > 0) await writeEntries(held.takeReady(openFrom()));
  }
  for (const id of [...flows.keys()]) await finish(id);
  await writeEntries(held.takeAll());
  closed.clear();

  await writeOut(out, '\n],"_tlsErrors":[\n');
  let errors = 0;
  const failures = await session.open({ types: new Set(['tls-failed']) });
  for await (const event of failures.events) {
    if (event.type !== 'tls-failed' || !include.conn(event.conn)) continue;
    await writeOut(out, `${errors > 0 ? ',\n' : ''}${JSON.stringify(harTlsError(event))}`);
    errors++;
  }
  await writeOut(out, '\n]}}\n');
  return written;
}

interface FoldResult {
  finished?: FlowId;
  closedConn?: ConnId;
}

/** Adds one event to the open flow/connection records; says which flow (or connection) it completed. */
function fold(
  event: ProxyEvent,
  flowOf: (id: FlowId, conn: ConnId) => FlowEvents & { wsBytes: number },
  connOf: (conn: ConnId) => ConnTlsEvents,
  maxWsBytes: number,
): FoldResult {
  switch (event.type) {
    case 'http-request':
      flowOf(event.id, event.conn).request = event;
      return {};
    case 'http-response': {
      flowOf(event.id, event.conn).response = event;
      // 101: the WebSocket messages still belong to this entry.
      return event.status === 101 ? {} : { finished: event.id };
    }
    case 'ws-open':
      flowOf(event.id, event.conn).wsOpen = event;
      return {};
    case 'ws-message': {
      const flow = flowOf(event.id, event.conn);
      if (flow.wsBytes + event.data.length > maxWsBytes) flow.wsOmitted++;
      else {
        flow.wsMessages.push(event);
        flow.wsBytes += event.data.length;
      }
      return {};
    }
    case 'ws-close':
      flowOf(event.id, event.conn).wsClose = event;
      return { finished: event.id };
    case 'proxy-error':
      if (event.id !== null && event.conn !== null) flowOf(event.id, event.conn).errors.push(event);
      return {};
    case 'tls-client-hello':
      connOf(event.conn)[event.leg].hello = event;
      return {};
    case 'tls-established':
      connOf(event.conn)[event.leg].established = event;
      return {};
    case 'tls-certificates':
      connOf(event.conn).certificates = event;
      return {};
    case 'connection-close':
      return { closedConn: event.conn };
    case 'connection-open':
    case 'connect':
    case 'upstream-reused':
    case 'tunnel':
    case 'tls-server-hello':
    case 'tls-failed':
    case 'tls-keylog':
    case 'tls-transcript':
    case 'secrets-found':
    case 'store-error':
      return {};
    default:
      return assertNever(event);
  }
}
