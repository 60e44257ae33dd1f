// The live view's state: the transport feeds the pure FlowModel; this class publishes what the views read, throttled
// to animation frames, as immutable arrays ($state.raw: thousands of rows must not become deep proxies).

import type { FlowSummary } from '../../../../server/protocol/flows.js';
import { parseFilter } from '../../../../server/protocol/filter.js';
import type { HubHello, LogEvent, Reset } from '../../../../server/protocol/wire.js';
import { browserEnvironment, hubSocketBase } from '../client/browser-env.js';
import { LiveTransport, type ConnectionStatus } from '../client/transport.js';
import { API } from '../../../../server/protocol/wire.js';
import { FlowModel, visibleRows, type SecretRow } from './flow-model.js';

/** Shortest interval between two list re-renders while events stream in. */
const PUBLISH_MS = 150;

export class LiveView {
  status = $state<ConnectionStatus>('connecting');
  statusDetail = $state('Connecting to mitmlab…');
  hello = $state.raw<HubHello | null>(null);
  /** Rows passing the filter, oldest first. */
  rows = $state.raw<FlowSummary[]>([]);
  /** Rows held, before the filter. */
  totalRows = $state(0);
  log = $state.raw<LogEvent[]>([]);
  secrets = $state.raw<SecretRow[]>([]);
  filterText = $state('');
  filterError = $state.raw<{ message: string; offset: number } | null>(null);
  paused = $state(false);
  selectedId = $state<string | null>(null);
  selected = $state.raw<FlowSummary | null>(null);
  lastReset = $state.raw<Reset | null>(null);

  readonly model = new FlowModel();
  #match: ((row: FlowSummary) => boolean) | null = null;
  #transport: LiveTransport | null = null;
  #pending = false;
  #lastPublish = -Infinity;
  #connListeners = new Set<(conns: Set<string>) => void>();

  /** Connects to the hub serving this page. */
  start(): void {
    const transport = new LiveTransport(
      hubSocketBase(window.location),
      {
        hello: (hello) => {
          this.hello = hello;
        },
        snapshot: (snapshot) => {
          this.model.applySnapshot(snapshot);
          this.#schedule();
        },
        events: (events) => {
          const touched = this.model.applyEvents(events);
          for (const listener of this.#connListeners) listener(touched);
          this.#schedule();
        },
        reset: (reset) => {
          // Shown for a few seconds: the list is about to be replaced by a fresh snapshot.
          this.lastReset = reset;
          setTimeout(() => {
            if (this.lastReset === reset) this.lastReset = null;
          }, 8000);
        },
        status: (status, detail) => {
          this.status = status;
          this.statusDetail = detail;
        },
      },
      browserEnvironment(API.whoami),
    );
    this.#transport = transport;
    transport.start();
  }

  stop(): void {
    this.#transport?.stop();
  }

  /** Applies a filter expression; a bad one keeps the previous filter and shows why. */
  setFilter(text: string): void {
    this.filterText = text;
    const parsed = parseFilter(text);
    if (!parsed.ok) {
      this.filterError = { message: parsed.error, offset: parsed.offset };
      return;
    }
    this.filterError = null;
    this.#match = text.trim() === '' ? null : parsed.match;
    this.#publish();
  }

  togglePause(): void {
    this.paused = !this.paused;
    if (this.paused) this.#transport?.pause();
    else this.#transport?.resume();
  }

  /** Empties the list, log and secrets on this page (the store keeps everything). */
  clear(): void {
    this.model.clear();
    this.selectedId = null;
    this.#publish();
  }

  select(id: string | null): void {
    this.selectedId = id;
    this.selected = id === null ? null : (this.model.flow(id) ?? null);
  }

  /** Called with the connections each batch touched (the detail view refreshes when its own is among them). */
  onConnEvents(listener: (conns: Set<string>) => void): () => void {
    this.#connListeners.add(listener);
    return () => this.#connListeners.delete(listener);
  }

  flow(id: string): FlowSummary | undefined {
    return this.model.flow(id);
  }

  #schedule(): void {
    if (this.#pending) return;
    this.#pending = true;
    // Batches arrive every ~50 ms. Re-rendering the list at most every PUBLISH_MS, on an animation frame, keeps
    // scrolling through 10k rows smooth under a steady stream; nobody reads rows faster than that.
    const wait = Math.max(0, this.#lastPublish + PUBLISH_MS - performance.now());
    setTimeout(() => {
      requestAnimationFrame(() => {
        this.#pending = false;
        this.#publish();
      });
    }, wait);
  }

  #publish(): void {
    this.#lastPublish = performance.now();
    const all = this.model.rows();
    this.totalRows = all.length;
    this.rows = visibleRows(all, this.#match);
    if (this.log !== this.model.log || this.log.length !== this.model.log.length) this.log = this.model.log.slice();
    if (this.secrets.length !== this.model.secrets.length || this.secrets[0] !== this.model.secrets[0]) this.secrets = this.model.secrets.slice();
    if (this.selectedId !== null) this.selected = this.model.flow(this.selectedId) ?? this.selected;
  }
}
