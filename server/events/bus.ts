// The event bus: producers emit synchronously and move on; listeners run later, in order, isolated from each other.
// A listener that throws is reported once and never stops the proxy or the other listeners (DESIGN.md §1).

import type { ProxyEvent } from '../protocol/events.js';

export type EventListener = (event: ProxyEvent) => void;

export interface EventBusOptions {
  /** Told about a listener's failure (once per listener); defaults to a console warning. */
  onListenerError?: (error: unknown, listenerIndex: number) => void;
}

export class EventBus {
  readonly #listeners: EventListener[] = [];
  readonly #failedOnce = new Set<EventListener>();
  #queue: ProxyEvent[] = [];
  #scheduled = false;
  #closed = false;
  #idle: Array<() => void> = [];
  readonly #onListenerError: (error: unknown, listenerIndex: number) => void;

  constructor(options: EventBusOptions = {}) {
    this.#onListenerError =
      options.onListenerError ??
      ((error, index) => console.warn(`mitmlab: event listener #${index} failed: ${String(error)}`));
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const index = this.#listeners.indexOf(listener);
      if (index >= 0) this.#listeners.splice(index, 1);
    };
  }

  /** Queues an event. Dispatch happens in a microtask batch, so emitting never runs listener code inline. */
  emit(event: ProxyEvent): void {
    if (this.#closed) return;
    this.#queue.push(event);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#dispatch());
    }
  }

  /**
   * Takes no more events, once the ones already emitted are delivered. Called at shutdown before the session log
   * closes: work still in flight then (a DNS answer, a socket closing) would emit events the log can no longer hold,
   * and no listener should show what the session does not contain.
   */
  async close(): Promise<void> {
    await this.flushed();
    this.#closed = true;
  }

  /** Resolves once every event emitted so far has reached every listener. */
  flushed(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #dispatch(): void {
    // Events emitted by listeners during dispatch join the same loop, keeping global order.
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      for (const event of batch) {
        for (let i = 0; i < this.#listeners.length; i++) {
          const listener = this.#listeners[i]!;
          try {
            listener(event);
          } catch (error) {
            if (!this.#failedOnce.has(listener)) {
              this.#failedOnce.add(listener);
              this.#onListenerError(error, i);
            }
          }
        }
      }
    }
    this.#scheduled = false;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}
