// The detail pane's data: every kept event of the selected flow's connection, fetched over REST (the stream
// carries only what arrives after the page loaded), refreshed when new events for that connection arrive.

import type { ProxyEvent } from '../../../../server/protocol/events.js';
import { fetchConnEvents } from '../client/api.js';

export class ConnDetail {
  conn = $state<string | null>(null);
  events = $state.raw<ProxyEvent[]>([]);
  loading = $state(false);
  error = $state<string | null>(null);
  #generation = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** Shows another connection (or none). */
  show(conn: string | null): void {
    if (conn === this.conn) return;
    this.conn = conn;
    this.events = [];
    this.error = null;
    if (conn !== null) void this.#load();
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
    if (conn === null) return;
    this.loading = true;
    try {
      const events = await fetchConnEvents(conn);
      if (generation !== this.#generation) return;
      this.events = events;
      this.error = null;
    } catch (error) {
      if (generation !== this.#generation) return;
      this.error = (error as Error).message;
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }
}
