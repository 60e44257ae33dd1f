// The live view's data, without Svelte: the flow index (the shared pure reducer, server/protocol/flow-reducer.ts),
// the event log and the exposed secrets, fed by snapshots and event batches. The rune classes in *.svelte.ts wrap
// this and decide when to re-render; everything here is unit-tested directly (test/unit/ui/).

import type { ExposedSecret, ProxyEvent } from '../../../../server/protocol/events.js';
import { applyEvent, createFlowIndex, flowList, type FlowIndex } from '../../../../server/protocol/flow-reducer.js';
import type { FlowSummary } from '../../../../server/protocol/flows.js';
import { isLogEvent, type LogEvent, type Snapshot } from '../../../../server/protocol/wire.js';

/** One exposed secret with where it was seen, for the secrets page. */
export interface SecretRow {
  /** Stable key for lists: flow id + position. */
  key: string;
  flowId: string;
  conn: string;
  at: number;
  host: string;
  url: string | null;
  secret: ExposedSecret;
}

export interface FlowModelLimits {
  /** Rows kept (the reducer's cap): the list must stay smooth, so the UI keeps fewer than the server. */
  flows: number;
  logEntries: number;
  secrets: number;
}

export const DEFAULT_MODEL_LIMITS: FlowModelLimits = { flows: 20_000, logEntries: 1_000, secrets: 5_000 };

export class FlowModel {
  readonly limits: FlowModelLimits;
  index: FlowIndex;
  log: LogEvent[] = [];
  secrets: SecretRow[] = [];
  /** Bumped on every change, so wrappers can skip work when nothing moved. */
  version = 0;

  constructor(limits: Partial<FlowModelLimits> = {}) {
    this.limits = { ...DEFAULT_MODEL_LIMITS, ...limits };
    this.index = createFlowIndex(this.limits.flows);
  }

  /** Replaces everything with a snapshot's state. */
  applySnapshot(snapshot: Snapshot): void {
    this.index = createFlowIndex(this.limits.flows);
    const rows = snapshot.flows.length > this.limits.flows ? snapshot.flows.slice(-this.limits.flows) : snapshot.flows;
    for (const row of rows) this.index.flows.set(row.id, row);
    this.index.created = rows.length;
    this.log = snapshot.log.slice(-this.limits.logEntries);
    this.secrets = [];
    for (const event of snapshot.secrets) this.#addSecrets(event);
    this.version++;
  }

  /** Folds new events in; returns the connections they touched (the detail view refreshes on those). */
  applyEvents(events: readonly ProxyEvent[]): Set<string> {
    const touched = new Set<string>();
    let newLog = false;
    for (const event of events) {
      applyEvent(this.index, event);
      if ('conn' in event && event.conn !== null) touched.add(event.conn);
      if (isLogEvent(event)) {
        this.log.push(event);
        newLog = true;
      } else if (event.type === 'secrets-found') {
        this.#addSecrets(event);
      }
    }
    if (newLog && this.log.length > this.limits.logEntries) this.log = this.log.slice(-this.limits.logEntries);
    if (this.secrets.length > this.limits.secrets) this.secrets = this.secrets.slice(-this.limits.secrets);
    if (events.length > 0) this.version++;
    return touched;
  }

  /** Forgets every row, log entry and secret shown so far (the server keeps them: store and exports). */
  clear(): void {
    const conns = this.index.conns;
    this.index = createFlowIndex(this.limits.flows);
    // Connection facts stay, so a request arriving later on an old connection still shows its TLS version.
    for (const [conn, facts] of conns) this.index.conns.set(conn, { ...facts, open: [] });
    this.log = [];
    this.secrets = [];
    this.version++;
  }

  rows(): FlowSummary[] {
    return flowList(this.index);
  }

  flow(id: string): FlowSummary | undefined {
    return this.index.flows.get(id);
  }

  #addSecrets(event: Extract<ProxyEvent, { type: 'secrets-found' }>): void {
    const flow = this.index.flows.get(event.id);
    event.secrets.forEach((secret, i) => {
      this.secrets.push({
        key: `${event.id}#${event.at}#${i}`,
        flowId: event.id,
        conn: event.conn,
        at: event.at,
        host: flow?.host ?? '',
        url: flow?.url ?? null,
        secret,
      });
    });
  }
}

/** The rows a filter keeps, in order (the same array when there is no filter). */
export function visibleRows(rows: FlowSummary[], match: ((row: FlowSummary) => boolean) | null): FlowSummary[] {
  return match === null ? rows : rows.filter(match);
}
