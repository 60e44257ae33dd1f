// The detail pane's data: every kept event of the selected flow's connection, fetched over REST (the stream
// carries only what arrives after the page loaded), refreshed when new events for that connection arrive.
// The source says which session: connection ids restart at c1 in every session, so a past session's c1 is fetched
// from that session, and switching sessions refetches even when the id is the same.

import type { ProxyEvent } from '../../../../server/protocol/events.js';
import type { ConnSource } from './session-switch.js';

export class ConnDetail {
  conn = $state<string | null>(null);
  events = $state.raw<ProxyEvent[]>([]);
  /** The events of the connection whose origin connection this one reused (`upstream-reused`), else none. */
  originEvents = $state.raw<ProxyEvent[]>([]);
  loading = $state(false);
  error = $state<string | null>(null);
  #source: ConnSource | null = null;
  #generation = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** Shows another connection (or none), loaded from `source`. */
  show(conn: string | null, source: ConnSource): void {
    if (conn === this.conn && source.key === this.#source?.key) return;
    this.conn = conn;
    this.#source = source;
    this.events = [];
    this.originEvents = [];
    this.error = null;
    if (conn !== null) {
      void this.#load();
    } else {
      this.#generation++;
      this.loading = false;
    }
  }

  /** New events arrived for some connections; refetch (debounced) when ours is one of them. */
  touched(conns: Set<string>): void {
    if (this.conn === null || !conns.has(this.conn) || this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#load();
    }, 250);
  }

  async #load(): Promise<void> {
    const generation = ++this.#generation;
    const conn = this.conn;
    const source = this.#source;
    if (conn === null || source === null) return;
    this.loading = true;
    try {
      const events = await source.load(conn);
      const reused = events.find((e) => e.type === 'upstream-reused');
      // The origin handshake this connection did without is on record with the connection that made it.
      const originEvents = reused?.type === 'upstream-reused' ? await source.load(reused.from).catch(() => []) : [];
      if (generation !== this.#generation) return;
      this.events = events;
      this.originEvents = originEvents;
      this.error = null;
    } catch (error) {
      if (generation !== this.#generation) return;
      this.error = (error as Error).message;
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }
}
