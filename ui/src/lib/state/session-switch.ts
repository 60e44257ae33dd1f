// Which session the views show: the live one, or a recorded one opened read-only. The live model keeps receiving the
// stream while a past session is shown, so going back to live loses nothing; the past session gets its own model,
// built by the same pure reducer and bounded by the same limits. No Svelte here: LiveView (live.svelte.ts) wraps it,
// and test/unit/ui/ drives it directly.

import type { ProxyEvent } from '../../../../server/protocol/events.js';
import type { SessionListing } from '../../../../server/protocol/wire.js';
import { FlowModel } from './flow-model.js';

/** What the views show. */
export type SessionView =
  | { kind: 'live' }
  | {
      kind: 'past';
      session: SessionListing;
      /** loading: events still streaming in; failed: the stream broke off (what arrived stays shown). */
      state: 'loading' | 'loaded' | 'failed';
      /** Events read so far. */
      events: number;
      error: string | null;
    };

/** Where the switch gets its data (the hub's REST API in the browser, fakes in tests). */
export interface SessionSources {
  /** Streams a recorded session's events into `onEvents`; resolves at its end, rejects when it breaks off or aborts. */
  streamEvents(id: string, onEvents: (events: ProxyEvent[]) => void, signal: AbortSignal): Promise<unknown>;
  /** Every event of one connection of the live session. */
  liveConnEvents(conn: string): Promise<ProxyEvent[]>;
  /** Every event of one connection of a recorded session. */
  pastConnEvents(id: string, conn: string): Promise<ProxyEvent[]>;
}

/** Where the detail pane fetches a connection's events; `key` changes whenever the same conn id means another connection. */
export interface ConnSource {
  key: string;
  load(conn: string): Promise<ProxyEvent[]>;
}

export class SessionSwitch {
  readonly live: FlowModel;
  view: SessionView = { kind: 'live' };
  /** The past session's model while one is shown. */
  past: FlowModel | null = null;
  readonly #sources: SessionSources;
  readonly #onChange: () => void;
  #abort: AbortController | null = null;
  #liveSelection: string | null = null;
  #liveSource: ConnSource;
  #source: ConnSource;
  #opened = 0;

  /** `onChange` runs after every change of the view or of the past model (the wrapper re-renders then). */
  constructor(live: FlowModel, sources: SessionSources, onChange: () => void) {
    this.live = live;
    this.#sources = sources;
    this.#onChange = onChange;
    this.#liveSource = { key: 'live', load: (conn) => sources.liveConnEvents(conn) };
    this.#source = this.#liveSource;
  }

  /** The model the views show. */
  get shown(): FlowModel {
    return this.past ?? this.live;
  }

  get viewingPast(): boolean {
    return this.view.kind === 'past';
  }

  /** Where the detail pane loads a connection's events for the session shown. */
  get connSource(): ConnSource {
    return this.#source;
  }

  /**
   * Shows a recorded session, read-only, streaming it into a fresh model; a session already loading is abandoned.
   * `selection` is the live view's selected flow, given back by backToLive(). Resolves when loading ends.
   */
  async open(session: SessionListing, selection: string | null = null): Promise<void> {
    if (this.view.kind === 'live') this.#liveSelection = selection;
    this.#abort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    const model = new FlowModel(this.live.limits);
    this.past = model;
    // Connection ids restart at c1 in every session: the key keeps the detail pane from showing the wrong c1.
    const opened = ++this.#opened;
    this.#source = { key: `past:${opened}:${session.id}`, load: (conn) => this.#sources.pastConnEvents(session.id, conn) };
    this.view = { kind: 'past', session, state: 'loading', events: 0, error: null };
    this.#onChange();
    const current = () => this.#abort === abort && !abort.signal.aborted;
    let count = 0;
    try {
      await this.#sources.streamEvents(
        session.id,
        (events) => {
          if (!current()) return;
          model.applyEvents(events);
          count += events.length;
          this.view = { kind: 'past', session, state: 'loading', events: count, error: null };
          this.#onChange();
        },
        abort.signal,
      );
      if (!current()) return;
      this.view = { kind: 'past', session, state: 'loaded', events: count, error: null };
    } catch (error) {
      if (!current()) return;
      this.view = { kind: 'past', session, state: 'failed', events: count, error: error instanceof Error ? error.message : String(error) };
    }
    this.#onChange();
  }

  /** Shows the live session again (its model kept streaming all along); returns the live selection to restore. */
  backToLive(): string | null {
    this.#abort?.abort();
    this.#abort = null;
    this.past = null;
    this.#source = this.#liveSource;
    const selection = this.view.kind === 'past' ? this.#liveSelection : null;
    this.#liveSelection = null;
    this.view = { kind: 'live' };
    this.#onChange();
    return selection;
  }
}
