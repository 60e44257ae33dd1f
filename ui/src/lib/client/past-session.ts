// Reads a recorded session from the hub (GET /api/sessions/:id/events, JSON Lines) as it streams in, handing the
// events over in batches: the page never holds the whole session, only what its bounded model keeps. No Svelte here.

import type { ProxyEvent } from '../../../../server/protocol/events.js';
import { isProxyEvent } from '../../../../server/protocol/event-shape.js';
import { API } from '../../../../server/protocol/wire.js';
import { ApiError, NO_STORE } from './api.js';
import { JsonLinesDecoder } from './json-lines.js';

export interface StreamResult {
  /** Events delivered. */
  events: number;
  /** Lines that were not events (damaged, or of a shape this page does not know). */
  skipped: number;
}

export interface StreamOptions {
  signal?: AbortSignal;
  /** Replaceable in tests. */
  fetch?: typeof fetch;
}

/**
 * Streams session `id`'s events into `onEvents`, one batch per chunk received. Resolves when the hub has sent the
 * whole session; rejects with ApiError for an HTTP error, with the fetch error when the stream breaks off (a cut-off
 * session must never pass for a complete one), and with an AbortError when `signal` aborts.
 */
export async function streamSessionEvents(id: string, onEvents: (events: ProxyEvent[]) => void, options: StreamOptions = {}): Promise<StreamResult> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(API.sessionEvents(id), {
    ...NO_STORE,
    credentials: 'same-origin',
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!response.ok) throw new ApiError(response.status, (await response.text()).trim() || response.statusText);
  if (!response.body) throw new ApiError(response.status, 'The hub sent no body.');
  const reader = response.body.getReader();
  const text = new TextDecoder('utf-8');
  const lines = new JsonLinesDecoder();
  const result: StreamResult = { events: 0, skipped: 0 };
  const deliver = (values: unknown[]): void => {
    const events: ProxyEvent[] = [];
    for (const value of values) {
      // The hub sends only events its store could read; a page of another version may still not know one.
      if (isProxyEvent(value)) events.push(value);
      else result.skipped++;
    }
    if (events.length === 0) return;
    result.events += events.length;
    onEvents(events);
  };
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      options.signal?.throwIfAborted();
      deliver(lines.push(text.decode(value, { stream: true })));
    }
    finished = true;
    deliver(lines.push(text.decode()));
    deliver(lines.end());
  } finally {
    // Stopped early (aborted, or the model refused an event): close the response so the hub stops reading the file.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  result.skipped += lines.skipped;
  return result;
}
