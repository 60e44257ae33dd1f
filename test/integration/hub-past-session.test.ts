// Opening a past session in the live view, server side: GET /api/sessions/:id/events streams a recorded session's
// events as JSON Lines, in order, behind the hub's token and Host checks; ids from the client are validated (no path
// traversal, no `latest` or names); the file is read only as fast as the client reads, and a client that leaves stops
// the read. The sessions are recorded by the real store and served through the real CLI adapter.

import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubSessions } from '../../server/cli/hub-adapters.js';
import type { HubSessions } from '../../server/hub/rest-api.js';
import type { ProxyEvent } from '../../server/protocol/events.js';
import { API } from '../../server/protocol/wire.js';
import { SessionStore } from '../../server/store/session-store.js';
import { exchange, startTestHub, type TestHub } from '../unit/hub/fixture.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw request with exactly the headers given (fetch would not let us forge Host or send `%2F` unnormalized). */
function request(t: TestHub, pathname: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: t.hub.port, path: pathname, headers: { host: `127.0.0.1:${t.hub.port}`, ...headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Records `events` as one closed session with the real store; returns its id. */
async function record(dataDir: string, events: ProxyEvent[]): Promise<string> {
  const store = await SessionStore.open({ dataDir, onWarning: () => {} });
  for (const event of events) store.record(event);
  await store.close();
  return store.id;
}

const refused: ProxyEvent = {
  type: 'tls-failed',
  conn: 'c2',
  leg: 'client',
  host: 'bank.lab.test',
  cause: 'cert-rejected',
  message: "The browser refused mitmlab's certificate for bank.lab.test: it does not trust the lab CA.",
  alert: 'bad_certificate',
  at: 1_700_000_000_500,
};

/** A session big enough (~30 MB of JSON Lines) to fill every socket buffer between the hub and a stalled reader. */
function bigSession(): ProxyEvent[] {
  const padding = 'x'.repeat(4096);
  const events: ProxyEvent[] = [];
  for (let n = 1; n <= 3500; n++) {
    for (const event of exchange(n)) {
      events.push(event.type === 'http-request' ? { ...event, headers: [...event.headers, ['x-padding', padding]] } : event);
    }
  }
  return events;
}

let dir: string;
let dataDir: string;
let t: TestHub;
let past: ProxyEvent[];
let pastId: string;
let bigId: string;
let currentId: string;
/** Events the big session's reader handed out, and whether it was closed; set by the spy below. */
const spy = { pulled: 0, closed: false };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-hub-past-'));
  dataDir = path.join(dir, 'data');
  past = [...exchange(1), refused, ...exchange(3)];
  pastId = await record(dataDir, past);
  bigId = await record(dataDir, bigSession());
  // The "current" session reuses connection ids c1…: a past session's c1 must never be confused with it.
  currentId = await record(dataDir, exchange(1, 1_800_000_000_000));
  const real = hubSessions(dataDir, currentId);
  const sessions: HubSessions = {
    list: () => real.list(),
    connEvents: (id, conn) => real.connEvents!(id, conn),
    events: async (id) => {
      const events = await real.events!(id);
      if (events === null || id !== bigId) return events;
      return (async function* counted() {
        try {
          for await (const event of events) {
            spy.pulled++;
            yield event;
          }
        } finally {
          spy.closed = true;
        }
      })();
    },
  };
  t = await startTestHub({ sessions, sessionId: currentId });
}, 120_000);

afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

const auth = () => ({ 'x-mitmlab-token': t.token });
const lines = (body: string) => body.split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line) as ProxyEvent);

describe('GET /api/sessions/:id/events', () => {
  it('needs the token and the hub Host, like every API', async () => {
    expect((await request(t, `/api/sessions/${pastId}/events`)).status).toBe(401);
    expect((await request(t, `/api/sessions/${pastId}/events`, { cookie: `mitmlab_session_${t.hub.port}=nope` })).status).toBe(401);
    expect((await request(t, `/api/sessions/${pastId}/events`, { ...auth(), host: `evil.test:${t.hub.port}` })).status).toBe(403);
    expect((await request(t, `/api/sessions/${pastId}/conns/c1/events`)).status).toBe(401);
  });

  it('streams a recorded session as JSON Lines, every event in recorded order', async () => {
    const answer = await request(t, API.sessionEvents(pastId), auth());
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.body.endsWith('\n')).toBe(true);
    expect(lines(answer.body)).toEqual(past);
  });

  it('refuses ids that are not ids: 400 for traversal and odd characters, 404 for `latest`, names and unknown ids', async () => {
    for (const bad of ['..%2F..%2Fetc', '..%2F' + pastId, '%2E%2E%2F', 'a%5Cb', 'a.b', '%ZZ', `${pastId}%00`, 'x'.repeat(101)]) {
      const answer = await request(t, `/api/sessions/${bad}/events`, auth());
      expect(answer.status, bad).toBe(400);
      expect(answer.body).toMatch(/Bad session id/);
    }
    for (const unknown of ['latest', 'load', '2020-01-01T00-00-00Z-0000', pastId.toLowerCase() /* ids are case-sensitive; T and Z always change */]) {
      const answer = await request(t, `/api/sessions/${unknown}/events`, auth());
      expect(answer.status, unknown).toBe(404);
    }
    // Dot segments (also percent-encoded ones, WHATWG URL §4.4) resolve before routing: they leave /api/sessions.
    expect((await request(t, `/api/sessions/%2E%2E/events`, auth())).status).toBe(404);
    expect((await request(t, `/api/sessions/..%2F..%2F/conns/c1/events`, auth())).status).toBe(400);
    expect((await request(t, `/api/sessions/${pastId}/conns/%ZZ/events`, auth())).status).toBe(400);
  });

  it("serves one connection's events of the past session, not the current session's namesake", async () => {
    const answer = await request(t, API.sessionConnEvents(pastId, 'c1'), auth());
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual(exchange(1));
    const current = JSON.parse((await request(t, `/api/sessions/${currentId}/conns/c1/events`, auth())).body) as ProxyEvent[];
    expect(current).toEqual(exchange(1, 1_800_000_000_000));
    expect(JSON.parse((await request(t, `/api/sessions/${pastId}/conns/c2/events`, auth())).body)).toEqual([refused]);
    expect((await request(t, `/api/sessions/2020-01-01T00-00-00Z-0000/conns/c1/events`, auth())).status).toBe(404);
  });

  it('reads the file only as fast as a stalled client reads, delivers everything in order on resume, and stops when the client leaves', async () => {
    const total = 3500 * 2;
    spy.pulled = 0;
    spy.closed = false;
    const received: Buffer[] = [];
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: t.hub.port, path: `/api/sessions/${bigId}/events`, headers: { host: `127.0.0.1:${t.hub.port}`, ...auth() }, agent: false }, resolve)
        .on('error', reject);
    });
    expect(res.statusCode).toBe(200);
    const first = await new Promise<Buffer>((resolve) => res.once('data', resolve));
    received.push(first);
    res.pause();
    // Stalled: the hub fills the socket buffers, then must stop pulling events from the file. Wait until the count
    // stops moving (without backpressure it would run on to the end of the session).
    let last = -1;
    let still = 0;
    while (still < 5) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      still = spy.pulled === last ? still + 1 : 0;
      last = spy.pulled;
    }
    expect(spy.pulled).toBeGreaterThan(0);
    expect(spy.pulled).toBeLessThan(total);
    expect(spy.closed).toBe(false);

    res.on('data', (chunk: Buffer) => received.push(chunk));
    await new Promise<void>((resolve) => {
      res.on('end', resolve);
      res.resume();
    });
    const events = lines(Buffer.concat(received).toString('utf8'));
    expect(events).toHaveLength(total);
    expect(events.map((e) => ('id' in e ? `${e.type}:${e.id}` : e.type))).toEqual(bigSession().map((e) => ('id' in e ? `${e.type}:${e.id}` : e.type)));
    await expect.poll(() => spy.closed).toBe(true);

    // A client that leaves midway: the reader is closed (the file with it) well before the end.
    spy.pulled = 0;
    spy.closed = false;
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: t.hub.port, path: `/api/sessions/${bigId}/events`, headers: { host: `127.0.0.1:${t.hub.port}`, ...auth() }, agent: false }, (leaving) => {
        leaving.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.on('close', () => resolve());
    });
    await expect.poll(() => spy.closed, { timeout: 10_000 }).toBe(true);
    expect(spy.pulled).toBeLessThan(total);
  });

  it('answers 503 when no store serves past sessions', async () => {
    const bare = await startTestHub();
    try {
      const answer = await request(bare, `/api/sessions/${pastId}/events`, { 'x-mitmlab-token': bare.token });
      expect(answer.status).toBe(503);
    } finally {
      await bare.close();
    }
  });
});
