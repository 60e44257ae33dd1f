// Opening a past session in the live view, without a browser: the switch between the live model and a recorded
// session's own model, and the JSON Lines stream that feeds it.

import { describe, expect, it } from 'vitest';
import type { ProxyEvent } from '../../../server/protocol/events.js';
import { JsonLinesDecoder } from '../../../ui/src/lib/client/json-lines.js';
import { ApiError } from '../../../ui/src/lib/client/api.js';
import { API, type SessionListing } from '../../../server/protocol/wire.js';
import { streamSessionEvents } from '../../../ui/src/lib/client/past-session.js';
import { FlowModel } from '../../../ui/src/lib/state/flow-model.js';
import { SessionSwitch, type SessionSources } from '../../../ui/src/lib/state/session-switch.js';
import { exchange } from '../hub/fixture.js';

const listing = (id: string, name: string | null = null): SessionListing => ({
  id,
  name,
  startedAt: 1_700_000_000_000,
  endedAt: 1_700_000_600_000,
  flows: 3,
  bytes: 1000,
  current: false,
});

/** A controllable stream per opened session: the test pushes batches and ends or breaks it. */
interface FakeStream {
  id: string;
  signal: AbortSignal;
  push(events: ProxyEvent[]): void;
  end(): void;
  fail(message: string): void;
}

function setup(limits: ConstructorParameters<typeof FlowModel>[0] = {}) {
  const streams: FakeStream[] = [];
  const connCalls: string[] = [];
  const sources: SessionSources = {
    streamEvents: (id, onEvents, signal) =>
      new Promise((resolve, reject) => {
        streams.push({
          id,
          signal,
          push: (events) => onEvents(events),
          end: () => resolve(undefined),
          fail: (message) => reject(new Error(message)),
        });
        signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      }),
    liveConnEvents: async (conn) => {
      connCalls.push(`live:${conn}`);
      return [];
    },
    pastConnEvents: async (id, conn) => {
      connCalls.push(`${id}:${conn}`);
      return [];
    },
  };
  let changes = 0;
  const live = new FlowModel(limits);
  const sw = new SessionSwitch(live, sources, () => changes++);
  return { sw, live, streams, connCalls, changes: () => changes };
}

const ids = (model: FlowModel) => model.rows().map((r) => r.id);

describe('SessionSwitch', () => {
  it('shows a past session in its own model while the live model keeps following the stream, and goes back', async () => {
    const { sw, live, streams } = setup();
    live.applyEvents([...exchange(1), ...exchange(2)]);
    expect(sw.shown).toBe(live);
    expect(sw.viewingPast).toBe(false);

    const opened = sw.open(listing('2025-01-01T10-00-00Z-aaaa', 'lab 1'), 'c2.1');
    expect(sw.viewingPast).toBe(true);
    expect(sw.view).toMatchObject({ kind: 'past', state: 'loading', events: 0, session: { id: '2025-01-01T10-00-00Z-aaaa' } });
    expect(sw.shown).not.toBe(live);
    expect(ids(sw.shown)).toEqual([]);
    expect(streams.map((s) => s.id)).toEqual(['2025-01-01T10-00-00Z-aaaa']);

    // The past session's c1.1 is another flow than the live c1.1: separate models, same reducer.
    streams[0]!.push(exchange(1, 1_600_000_000_000));
    streams[0]!.push(exchange(7, 1_600_000_000_007));
    expect(sw.view).toMatchObject({ state: 'loading', events: 4 });
    expect(ids(sw.shown)).toEqual(['c1.1', 'c7.1']);
    expect(sw.shown.flow('c1.1')?.startedAt).toBe(1_600_000_000_000);

    // Live traffic meanwhile lands in the live model only.
    live.applyEvents(exchange(3));
    expect(ids(live)).toEqual(['c1.1', 'c2.1', 'c3.1']);
    expect(ids(sw.shown)).toEqual(['c1.1', 'c7.1']);

    streams[0]!.end();
    await opened;
    expect(sw.view).toMatchObject({ kind: 'past', state: 'loaded', events: 4, error: null });

    expect(sw.backToLive()).toBe('c2.1');
    expect(sw.view).toEqual({ kind: 'live' });
    expect(sw.shown).toBe(live);
    expect(sw.past).toBeNull();
    expect(ids(sw.shown)).toEqual(['c1.1', 'c2.1', 'c3.1']);
  });

  it('loads the detail pane from the session shown, with a key that changes between sessions', async () => {
    const { sw, streams, connCalls } = setup();
    const liveKey = sw.connSource.key;
    await sw.connSource.load('c1');
    void sw.open(listing('2025-01-01T10-00-00Z-aaaa'));
    const firstKey = sw.connSource.key;
    await sw.connSource.load('c1');
    void sw.open(listing('2025-01-02T10-00-00Z-bbbb'));
    const secondKey = sw.connSource.key;
    await sw.connSource.load('c1');
    // Reopening the same session gets a fresh key too (a fresh model: the pane must refetch).
    void sw.open(listing('2025-01-02T10-00-00Z-bbbb'));
    expect(new Set([liveKey, firstKey, secondKey, sw.connSource.key]).size).toBe(4);
    sw.backToLive();
    await sw.connSource.load('c1');
    expect(sw.connSource.key).toBe(liveKey);
    expect(connCalls).toEqual(['live:c1', '2025-01-01T10-00-00Z-aaaa:c1', '2025-01-02T10-00-00Z-bbbb:c1', 'live:c1']);
    expect(streams.slice(0, 3).map((s) => s.signal.aborted)).toEqual([true, true, true]);
  });

  it('abandons a session still loading when another is opened: its late events never reach the new one', async () => {
    const { sw, streams } = setup();
    const first = sw.open(listing('2025-01-01T10-00-00Z-aaaa'));
    streams[0]!.push(exchange(1));
    const second = sw.open(listing('2025-01-02T10-00-00Z-bbbb'));
    expect(streams[0]!.signal.aborted).toBe(true);
    await first;
    streams[0]!.push(exchange(9)); // a straggler after the abort
    streams[1]!.push(exchange(2));
    streams[1]!.end();
    await second;
    expect(sw.view).toMatchObject({ session: { id: '2025-01-02T10-00-00Z-bbbb' }, state: 'loaded', events: 2 });
    expect(ids(sw.shown)).toEqual(['c2.1']);
  });

  it('going back to live while loading stops the stream and ignores what still arrives', async () => {
    const { sw, live, streams } = setup();
    const opened = sw.open(listing('2025-01-01T10-00-00Z-aaaa'), null);
    streams[0]!.push(exchange(1));
    expect(sw.backToLive()).toBeNull();
    expect(streams[0]!.signal.aborted).toBe(true);
    await opened;
    streams[0]!.push(exchange(2));
    expect(sw.view).toEqual({ kind: 'live' });
    expect(ids(sw.shown)).toEqual([]);
    expect(sw.shown).toBe(live);
  });

  it('keeps what arrived when the stream breaks off, and says so', async () => {
    const { sw, streams } = setup();
    const opened = sw.open(listing('2025-01-01T10-00-00Z-aaaa'));
    streams[0]!.push(exchange(1));
    streams[0]!.fail('network error');
    await opened;
    expect(sw.view).toMatchObject({ kind: 'past', state: 'failed', events: 2, error: 'network error' });
    expect(ids(sw.shown)).toEqual(['c1.1']);
  });

  it("bounds the past session's model by the live model's limits", async () => {
    const { sw, streams } = setup({ flows: 3, logEntries: 2 });
    const opened = sw.open(listing('2025-01-01T10-00-00Z-aaaa'));
    for (let n = 1; n <= 10; n++) streams[0]!.push(exchange(n));
    streams[0]!.end();
    await opened;
    expect(ids(sw.shown)).toEqual(['c8.1', 'c9.1', 'c10.1']);
    expect(sw.shown.index.evicted).toBe(7);
    expect(sw.shown.limits).toEqual(sw.live.limits);
  });

  it('gives back the live selection made before the first of several past sessions', () => {
    const { sw } = setup();
    void sw.open(listing('2025-01-01T10-00-00Z-aaaa'), 'c5.1');
    void sw.open(listing('2025-01-02T10-00-00Z-bbbb'), 'c1.1'); // a past session's selection, not the live one
    expect(sw.backToLive()).toBe('c5.1');
    expect(sw.backToLive()).toBeNull();
  });

  it('tells its wrapper about every change', async () => {
    const { sw, streams, changes } = setup();
    const opened = sw.open(listing('2025-01-01T10-00-00Z-aaaa'));
    expect(changes()).toBe(1);
    streams[0]!.push(exchange(1));
    expect(changes()).toBe(2);
    streams[0]!.end();
    await opened;
    expect(changes()).toBe(3);
    sw.backToLive();
    expect(changes()).toBe(4);
  });
});

describe('JsonLinesDecoder', () => {
  it('decodes lines split anywhere across chunks, skipping damaged and blank ones', () => {
    const text = '{"a":1}\n{"b":"x\\ny"}\r\n\nnot json\n[1,2]\n{"torn":';
    for (let cut = 0; cut <= text.length; cut++) {
      const decoder = new JsonLinesDecoder();
      const values = [...decoder.push(text.slice(0, cut)), ...decoder.push(text.slice(cut)), ...decoder.end()];
      expect(values, `cut at ${cut}`).toEqual([{ a: 1 }, { b: 'x\ny' }, [1, 2]]);
      expect(decoder.skipped, `cut at ${cut}`).toBe(2); // "not json" and the torn tail
    }
  });

  it('accepts a last line without its newline, and skips lines over the limit without holding them', () => {
    const decoder = new JsonLinesDecoder(10);
    expect(decoder.push('{"k":1}\n{"long":"')).toEqual([{ k: 1 }]);
    expect(decoder.push('aaaaaaaaaaaaaaaaaaaa')).toEqual([]);
    expect(decoder.push('"}\n{"n":2}')).toEqual([]);
    expect(decoder.end()).toEqual([{ n: 2 }]);
    expect(decoder.skipped).toBe(1);
  });
});

describe('streamSessionEvents', () => {
  const encoder = new TextEncoder();
  /** A fetch answering with `chunks` as the body, recording the URL asked for. */
  function fakeFetch(chunks: Array<string | Uint8Array>, init: { status?: number; breakOff?: boolean } = {}) {
    const urls: string[] = [];
    let cancelled = false;
    const fn = (async (url: string | URL | Request) => {
      urls.push(String(url));
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const chunk = chunks[i++];
          if (chunk === undefined) {
            if (init.breakOff) controller.error(new TypeError('network error'));
            else controller.close();
            return;
          }
          controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
        },
        cancel() {
          cancelled = true;
        },
      });
      return new Response(init.status && init.status >= 400 ? 'No session x.' : body, { status: init.status ?? 200 });
    }) as typeof fetch;
    return { fn, urls, cancelled: () => cancelled };
  }

  it('asks for the session by its encoded id and delivers events in order, one batch per chunk', async () => {
    const events = [...exchange(1), ...exchange(2)];
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const bytes = encoder.encode(text.replace('site1', 'sité1'));
    // Cut inside the multi-byte 'é' too: the decoder must carry it across chunks.
    const at = bytes.indexOf(0xc3) + 1;
    const fetch = fakeFetch([bytes.subarray(0, at), bytes.subarray(at, 500), bytes.subarray(500)]);
    const batches: ProxyEvent[][] = [];
    const result = await streamSessionEvents('2025-01-01T10-00-00Z-aaaa', (batch) => batches.push(batch), { fetch: fetch.fn });
    expect(fetch.urls).toEqual([API.sessionEvents('2025-01-01T10-00-00Z-aaaa')]);
    expect(API.sessionEvents('a/../b')).toBe('/api/sessions/a%2F..%2Fb/events');
    expect(batches.flat().map((e) => e.type)).toEqual(events.map((e) => e.type));
    expect((batches.flat()[0] as Extract<ProxyEvent, { type: 'http-request' }>).url).toContain('sité1');
    expect(result).toEqual({ events: 4, skipped: 0 });
  });

  it('counts lines that are not events, and fails on HTTP errors and on a stream that breaks off', async () => {
    const good = JSON.stringify(exchange(1)[0]);
    // A type this page does not know, and a known type of the wrong shape, would reach the reducer and throw there.
    const unknown = '{"type":"http3-frame","at":1}';
    const misshapen = '{"type":"http-request","at":1,"id":"c1.1","conn":"c1","headers":7}';
    const mixed = await streamSessionEvents('x', () => undefined, { fetch: fakeFetch([`${good}\n{"no":"type"}\n42\nbroken\n${unknown}\n${misshapen}\n`]).fn });
    expect(mixed).toEqual({ events: 1, skipped: 5 });

    const missing = streamSessionEvents('x', () => undefined, { fetch: fakeFetch([], { status: 404 }).fn });
    await expect(missing).rejects.toBeInstanceOf(ApiError);
    await expect(missing).rejects.toMatchObject({ status: 404, message: 'No session x.' });

    const seen: ProxyEvent[] = [];
    const cut = streamSessionEvents('x', (batch) => seen.push(...batch), { fetch: fakeFetch([`${good}\n`], { breakOff: true }).fn });
    await expect(cut).rejects.toThrow(/network error/);
    expect(seen).toHaveLength(1);
  });

  it('stops reading and cancels the response when aborted, or when the model refuses a batch', async () => {
    const line = `${JSON.stringify(exchange(1)[0])}\n`;
    const abort = new AbortController();
    const slow = fakeFetch([line, line, line, line]);
    let batches = 0;
    const aborted = streamSessionEvents('x', () => {
      if (++batches === 2) abort.abort();
    }, { fetch: slow.fn, signal: abort.signal });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(batches).toBe(2);
    expect(slow.cancelled()).toBe(true);

    const refusing = fakeFetch([line, line]);
    await expect(
      streamSessionEvents('x', () => {
        throw new Error('unhandled variant');
      }, { fetch: refusing.fn }),
    ).rejects.toThrow(/unhandled variant/);
    expect(refusing.cancelled()).toBe(true);
  });
});
