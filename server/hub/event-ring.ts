// The hub's memory of recent events, all bounded: a sequence-numbered ring (for resuming clients), the event log and
// the secrets list (for snapshots), and an index of events per connection (for the detail view). Pure: no I/O.
// Events are serialized once, here; every client and every REST answer reuses the same strings.

import type { ConnId, EventOf, ProxyEvent } from '../protocol/events.js';
import { isLogEvent, type LogEvent } from '../protocol/wire.js';

export interface EventRingLimits {
  /** Events kept for resuming clients. */
  ringEvents: number;
  /** Bytes (JSON) kept for resuming clients. */
  ringBytes: number;
  /** Event-log entries kept for snapshots. */
  logEntries: number;
  /** secrets-found events kept for snapshots. */
  secretEntries: number;
  /** Connections whose events are kept for the detail view. */
  detailConns: number;
  /** Bytes (JSON) of per-connection events kept for the detail view, all connections together. */
  detailBytes: number;
  /** Events kept per connection (a long WebSocket session keeps its first ones and counts the rest). */
  detailEventsPerConn: number;
}

export const DEFAULT_RING_LIMITS: EventRingLimits = {
  ringEvents: 20_000,
  ringBytes: 32 * 1024 * 1024,
  logEntries: 1_000,
  secretEntries: 2_000,
  detailConns: 20_000,
  detailBytes: 64 * 1024 * 1024,
  detailEventsPerConn: 2_000,
};

export interface Sequenced {
  seq: number;
  json: string;
}

interface ConnEvents {
  items: string[];
  bytes: number;
  dropped: number;
}

/** A bounded FIFO with O(1) push and shift, indexable by position. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Compact now and then so the backing array does not grow forever.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  at(index: number): T | undefined {
    return this.#items[this.#head + index];
  }
  toArray(): T[] {
    return this.#items.slice(this.#head) as T[];
  }
}

export class EventRing {
  readonly limits: EventRingLimits;
  #seq = 0;
  readonly #ring = new Fifo<Sequenced>();
  #ringBytes = 0;
  readonly #log = new Fifo<LogEvent>();
  readonly #secrets = new Fifo<EventOf<'secrets-found'>>();
  readonly #detail = new Map<ConnId, ConnEvents>();
  #detailBytes = 0;

  constructor(limits: Partial<EventRingLimits> = {}) {
    this.limits = { ...DEFAULT_RING_LIMITS, ...limits };
  }

  /** Sequence number of the newest event (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  /** Sequence number of the oldest event still in the ring (seq + 1 when empty). */
  get oldestSeq(): number {
    return this.#ring.at(0)?.seq ?? this.#seq + 1;
  }

  get ringStats(): { events: number; bytes: number; detailConns: number; detailBytes: number } {
    return { events: this.#ring.length, bytes: this.#ringBytes, detailConns: this.#detail.size, detailBytes: this.#detailBytes };
  }

  /** Numbers, serializes and remembers an event. */
  push(event: ProxyEvent): Sequenced {
    const entry: Sequenced = { seq: ++this.#seq, json: JSON.stringify(event) };
    this.#ring.push(entry);
    this.#ringBytes += entry.json.length;
    while (this.#ring.length > 1 && (this.#ring.length > this.limits.ringEvents || this.#ringBytes > this.limits.ringBytes)) {
      this.#ringBytes -= this.#ring.shift()!.json.length;
    }
    if (isLogEvent(event)) {
      this.#log.push(event);
      if (this.#log.length > this.limits.logEntries) this.#log.shift();
    } else if (event.type === 'secrets-found') {
      this.#secrets.push(event);
      if (this.#secrets.length > this.limits.secretEntries) this.#secrets.shift();
    }
    if ('conn' in event && event.conn !== null) this.#remember(event.conn, entry.json);
    return entry;
  }

  /**
   * The events after `afterSeq`, oldest first, or null when the ring no longer holds all of them (or `afterSeq` is
   * from the future, e.g. another hub's numbering).
   */
  since(afterSeq: number): Sequenced[] | null {
    if (afterSeq > this.#seq || afterSeq + 1 < this.oldestSeq) return null;
    const out: Sequenced[] = [];
    const start = afterSeq + 1 - this.oldestSeq;
    for (let i = Math.max(0, start); i < this.#ring.length; i++) out.push(this.#ring.at(i)!);
    return out;
  }

  /** Recent event-log entries, oldest first. */
  log(): LogEvent[] {
    return this.#log.toArray();
  }

  /** Recent secrets-found events, oldest first. */
  secrets(): EventOf<'secrets-found'>[] {
    return this.#secrets.toArray();
  }

  /**
   * The kept events of one connection as a JSON array text, or null when the connection is unknown or evicted.
   * `complete` is false once the connection passed detailEventsPerConn: its later events were not kept here.
   */
  connEventsJson(conn: ConnId): { json: string; complete: boolean } | null {
    const entry = this.#detail.get(conn);
    return entry ? { json: `[${entry.items.join(',')}]`, complete: entry.dropped === 0 } : null;
  }

  #remember(conn: ConnId, json: string): void {
    let entry = this.#detail.get(conn);
    if (!entry) {
      entry = { items: [], bytes: 0, dropped: 0 };
      this.#detail.set(conn, entry);
    }
    if (entry.items.length >= this.limits.detailEventsPerConn) {
      entry.dropped++;
      return;
    }
    entry.items.push(json);
    entry.bytes += json.length;
    this.#detailBytes += json.length;
    // Forget whole connections, oldest first (Map iterates in insertion order), never the one being written.
    for (const [oldest, old] of this.#detail) {
      if (this.#detail.size <= this.limits.detailConns && this.#detailBytes <= this.limits.detailBytes) break;
      if (oldest === conn) break;
      this.#detail.delete(oldest);
      this.#detailBytes -= old.bytes;
    }
  }
}
