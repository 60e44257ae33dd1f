// The live view's state: the transport feeds the pure FlowModel; this class publishes what the views read, throttled
// to animation frames, as immutable arrays ($state.raw: thousands of rows must not become deep proxies).
// A recorded session can be opened read-only in the same views (session-switch.ts): the views then read its model,
// while the live model keeps following the stream in the background.

import type { FlowSummary } from '../../../../server/protocol/flows.js';
import { parseFilter } from '../../../../server/protocol/filter.js';
import type { HubHello, LogEvent, Reset } from '../../../../server/protocol/wire.js';
import { browserEnvironment, hubSocketBase } from '../client/browser-env.js';
import { LiveTransport, type ConnectionStatus } from '../client/transport.js';
import { API, type SessionListing } from '../../../../server/protocol/wire.js';
import { fetchConnEvents, fetchPastConnEvents, fetchSessions } from '../client/api.js';
import { streamSessionEvents } from '../client/past-session.js';
import { FlowModel, visibleRows, type SecretRow } from './flow-model.js';
import { SessionSwitch, type ConnSource, type SessionView } from './session-switch.js';

/** Shortest interval between two list re-renders while events stream in. */
const PUBLISH_MS = 150;
/** The past session this tab shows, kept across a reload (per tab: another tab may show another session). */
const OPEN_SESSION_KEY = 'mitmlab.openSession';

function rememberOpenSession(id: string | null): void {
  try {
    if (id === null) sessionStorage.removeItem(OPEN_SESSION_KEY);
    else sessionStorage.setItem(OPEN_SESSION_KEY, id);
  } catch {
    // Storage refused (private mode, quota): the view just starts live after a reload.
  }
}

function openSessionRemembered(): string | null {
  try {
    return sessionStorage.getItem(OPEN_SESSION_KEY);
  } catch {
    return null;
  }
}

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
  /** The filter the list follows: the last valid one typed (a bad one leaves it in place). */
  appliedFilterText = $state('');
  paused = $state(false);
  selectedId = $state<string | null>(null);
  selected = $state.raw<FlowSummary | null>(null);
  lastReset = $state.raw<Reset | null>(null);
  /** Live, or the recorded session shown read-only. */
  viewing = $state.raw<SessionView>({ kind: 'live' });
  /** Where the detail pane loads a connection's events for the session shown. */
  connSource = $state.raw<ConnSource>({ key: 'live', load: fetchConnEvents });
  /** Rows of the shown session no longer held (the model's cap); the store and the exports keep them. */
  evictedRows = $state(0);

  /** The live session's model (it keeps following the stream while a past session is shown). */
  readonly model = new FlowModel();
  readonly sessions = new SessionSwitch(
    this.model,
    {
      streamEvents: (id, onEvents, signal) => streamSessionEvents(id, onEvents, { signal }),
      liveConnEvents: fetchConnEvents,
      pastConnEvents: fetchPastConnEvents,
    },
    () => this.#switched(),
  );
  #shownModel: FlowModel = this.model;
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
          const first = this.hello === null;
          this.hello = hello;
          if (first) void this.#reopenRemembered(hello.sessionId);
        },
        snapshot: (snapshot) => {
          this.model.applySnapshot(snapshot);
          if (!this.sessions.viewingPast) this.#schedule();
        },
        events: (events) => {
          const touched = this.model.applyEvents(events);
          // A past session's views do not move with the stream (and its conn ids mean other connections).
          if (this.sessions.viewingPast) return;
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
    this.appliedFilterText = text.trim();
    this.#match = text.trim() === '' ? null : parsed.match;
    this.#publish();
  }

  togglePause(): void {
    this.paused = !this.paused;
    if (this.paused) this.#transport?.pause();
    else this.#transport?.resume();
  }

  /** Shows a recorded session read-only in the same views; resolves once it has loaded (or failed to). */
  openSession(session: SessionListing): Promise<void> {
    const selection = this.selectedId;
    this.select(null);
    rememberOpenSession(session.id);
    return this.sessions.open(session, selection);
  }

  /** After a reload: the past session this tab had open, if it still exists and is not the live one. */
  async #reopenRemembered(liveId: string | null): Promise<void> {
    const id = openSessionRemembered();
    if (id === null || id === liveId || this.sessions.viewingPast) return;
    const session = (await fetchSessions().catch(() => [])).find((listed) => listed.id === id);
    if (session) await this.openSession(session);
    else rememberOpenSession(null);
  }

  /** Shows the live session again, with the flow that was selected there. */
  backToLive(): void {
    rememberOpenSession(null);
    const selection = this.sessions.backToLive();
    this.select(selection !== null && this.model.flow(selection) ? selection : null);
  }

  /** Empties the list, log and secrets on this page (the store keeps everything). Live only. */
  clear(): void {
    if (this.sessions.viewingPast) return;
    this.model.clear();
    this.selectedId = null;
    this.#publish();
  }

  select(id: string | null): void {
    this.selectedId = id;
    this.selected = id === null ? null : (this.sessions.shown.flow(id) ?? null);
  }

  /** Called with the connections each batch touched (the detail view refreshes when its own is among them). */
  onConnEvents(listener: (conns: Set<string>) => void): () => void {
    this.#connListeners.add(listener);
    return () => this.#connListeners.delete(listener);
  }

  flow(id: string): FlowSummary | undefined {
    return this.sessions.shown.flow(id);
  }

  #switched(): void {
    this.viewing = this.sessions.view;
    this.connSource = this.sessions.connSource;
    if (this.sessions.shown !== this.#shownModel) this.#publish();
    else this.#schedule();
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
    const model = this.sessions.shown;
    const switched = model !== this.#shownModel;
    this.#shownModel = model;
    const all = model.rows();
    this.totalRows = all.length;
    this.evictedRows = model.index.evicted;
    this.rows = visibleRows(all, this.#match);
    if (switched || this.log.length !== model.log.length || this.log.at(-1) !== model.log.at(-1)) this.log = model.log.slice();
    if (switched || this.secrets.length !== model.secrets.length || this.secrets[0] !== model.secrets[0] || this.secrets.at(-1) !== model.secrets.at(-1)) {
      this.secrets = model.secrets.slice();
    }
    if (this.selectedId !== null) this.selected = model.flow(this.selectedId) ?? this.selected;
  }
}
