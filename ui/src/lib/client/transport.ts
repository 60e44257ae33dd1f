// The live view's connection to the hub: one WebSocket, reconnected with backoff, resumed from the last sequence
// number, with gap and duplicate checks. Knows nothing of Svelte: it calls handlers (state classes subscribe).

import type { ProxyEvent } from '../../../../server/protocol/events.js';
import { WS_PATH, type ClientMessage, type HubHello, type Reset, type ServerMessage, type Snapshot } from '../../../../server/protocol/wire.js';

export type ConnectionStatus =
  /** First connection attempt. */
  | 'connecting'
  /** Receiving the stream. */
  | 'live'
  /** Lost; trying again (resuming where it stopped). */
  | 'reconnecting'
  /** Several attempts failed; still retrying, slowly. */
  | 'offline'
  /** The hub refuses this browser: the token cookie is missing or stale. */
  | 'unauthorized';

export interface TransportHandlers {
  hello(hello: HubHello): void;
  /** Replace everything with this state. */
  snapshot(snapshot: Snapshot): void;
  /** New events, in order, never seen before; `lastSeq` is the sequence number of the last one. */
  events(events: ProxyEvent[], lastSeq: number): void;
  reset(reset: Reset): void;
  status(status: ConnectionStatus, detail: string): void;
}

/** The parts of the browser the transport uses, replaceable in tests. */
export interface TransportEnvironment {
  createSocket(url: string): WebSocketLike;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Asks whether the hub still accepts this browser's cookie (a refused WebSocket upgrade hides its status). */
  checkAuthorized(): Promise<boolean>;
}

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

const OPEN = 1;
/** Backoff between attempts: 0.5 s doubling to 8 s. After OFFLINE_AFTER failed attempts the banner says offline. */
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const OFFLINE_AFTER = 4;

export class LiveTransport {
  readonly #url: string;
  readonly #handlers: TransportHandlers;
  readonly #env: TransportEnvironment;
  #socket: WebSocketLike | null = null;
  #hubId: string | null = null;
  #lastSeq = 0;
  #failures = 0;
  #timer: unknown = null;
  #stopped = true;
  #paused = false;
  #hadSnapshot = false;
  #unauthorized = false;

  constructor(url: string, handlers: TransportHandlers, env: TransportEnvironment) {
    this.#url = url;
    this.#handlers = handlers;
    this.#env = env;
  }

  /** Sequence number of the last event delivered to the handlers. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get paused(): boolean {
    return this.#paused;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#handlers.status('connecting', 'Connecting to mitmlab…');
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#env.clearTimeout(this.#timer);
    this.#timer = null;
    this.#socket?.close(1000, 'closed by the page');
    this.#socket = null;
  }

  /** Stops live updates: the hub holds batches back (and keeps our position). */
  pause(): void {
    this.#paused = true;
    this.#send({ type: 'pause' });
  }

  /** Resumes live updates from where they stopped. */
  resume(): void {
    this.#paused = false;
    this.#send({ type: 'resume', lastSeq: this.#lastSeq });
  }

  #connect(): void {
    const query = this.#hubId !== null && this.#hadSnapshot ? `?hub=${encodeURIComponent(this.#hubId)}&after=${this.#lastSeq}` : '';
    let socket: WebSocketLike;
    try {
      socket = this.#env.createSocket(`${this.#url}${WS_PATH}${query}`);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#socket = socket;
    socket.onmessage = (ev) => {
      if (this.#socket !== socket || typeof ev.data !== 'string') return;
      let message: ServerMessage;
      try {
        message = JSON.parse(ev.data) as ServerMessage;
      } catch {
        return;
      }
      this.#receive(message);
    };
    socket.onclose = () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      if (!this.#stopped) this.#scheduleReconnect();
    };
    socket.onerror = () => undefined; // onclose follows and handles it
  }

  #receive(message: ServerMessage): void {
    switch (message.type) {
      case 'hello': {
        const sameHub = this.#hubId === message.hubId;
        this.#hubId = message.hubId;
        if (!sameHub) this.#lastSeq = 0;
        this.#failures = 0;
        this.#unauthorized = false;
        this.#handlers.hello(message);
        this.#handlers.status('live', 'Live');
        // The hub starts every connection unpaused; a paused page says so again.
        if (this.#paused) this.#send({ type: 'pause' });
        return;
      }
      case 'snapshot':
        this.#hadSnapshot = true;
        this.#lastSeq = message.seq;
        this.#handlers.snapshot(message);
        return;
      case 'batch':
        this.#batch(message.fromSeq, message.events);
        return;
      case 'reset':
        this.#handlers.reset(message);
        return;
      default:
        return;
    }
  }

  #batch(fromSeq: number, events: ProxyEvent[]): void {
    if (this.#paused) return; // not applied; the hub resends from lastSeq on resume
    const skip = this.#lastSeq + 1 - fromSeq; // events we already have (a resume overlapping in-flight batches)
    if (skip < 0) {
      // A gap can only mean a bug or a lost message: start over from what we have.
      this.#socket?.close(4000, 'gap');
      return;
    }
    if (skip >= events.length) return;
    const fresh = skip > 0 ? events.slice(skip) : events;
    this.#lastSeq = fromSeq + events.length - 1;
    this.#handlers.events(fresh, this.#lastSeq);
  }

  #scheduleReconnect(): void {
    this.#failures++;
    const delay = BACKOFF_MS[Math.min(this.#failures - 1, BACKOFF_MS.length - 1)]!;
    if (this.#unauthorized) {
      // Keep saying why; retrying costs nothing and succeeds once the token URL is opened in another tab.
    } else if (this.#failures > OFFLINE_AFTER) {
      this.#handlers.status('offline', 'mitmlab is not reachable. Is it still running? Retrying…');
    } else {
      this.#handlers.status('reconnecting', 'Connection lost; reconnecting…');
    }
    // A refused upgrade looks like any other failure to a page; ask over HTTP whether the token is the reason.
    this.#env
      .checkAuthorized()
      .then((ok) => {
        if (ok || this.#stopped) return;
        this.#unauthorized = true;
        this.#handlers.status('unauthorized', 'This browser has no valid token. Open the live view URL mitmlab printed at start.');
      })
      .catch(() => undefined);
    this.#timer = this.#env.setTimeout(() => {
      this.#timer = null;
      if (!this.#stopped) this.#connect();
    }, delay);
  }

  #send(message: ClientMessage): void {
    if (this.#socket?.readyState === OPEN) this.#socket.send(JSON.stringify(message));
  }
}
