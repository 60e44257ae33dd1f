// Starts a real mitmlab in-process for a test: temp data and CA dirs, port 0 for every listener, and a recorder of
// every event on the bus.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../../server/cli/options.js';
import { startMitmlab as start, startOptionsFrom, type RunningMitmlab, type StartOptions } from '../../server/cli/start.js';
import type { EventOf, ProxyEvent, ProxyEventType } from '../../server/protocol/events.js';

export interface TestMitmlab extends RunningMitmlab {
  /** Every event emitted so far, in order. */
  events: ProxyEvent[];
  /** Temp folder holding data/ and ca/. */
  dir: string;
  caPath: string;
  /** Resolves with the first event of `type` matching `predicate` (past or future); rejects after `timeoutMs`. */
  waitFor<T extends ProxyEventType>(type: T, predicate?: (event: EventOf<T>) => boolean, timeoutMs?: number): Promise<EventOf<T>>;
  /** Events of one type. */
  ofType<T extends ProxyEventType>(type: T): EventOf<T>[];
}

/** Default options as the CLI would give them, with port 0 and temp dirs; `overrides` win. */
export async function testOptions(dir: string, overrides: Partial<StartOptions> = {}): Promise<StartOptions> {
  const parsed = parseArgs([]);
  if (!parsed.ok) throw new Error(parsed.error);
  return {
    ...startOptionsFrom(parsed.options),
    listenPort: 0,
    uiPort: 0,
    dataDir: path.join(dir, 'data'),
    caDir: path.join(dir, 'ca'),
    ...overrides,
  };
}

/** Starts mitmlab for a test. Call close() in afterAll/afterEach: it also removes the temp dir. */
export async function startMitmlab(overrides: Partial<StartOptions> = {}): Promise<TestMitmlab> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-test-'));
  // Names used by tests come from --resolve; anything else fails like a missing DNS name, without asking DNS.
  const lookup = async (host: string): Promise<string> => {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };
  const running = await start(await testOptions(dir, overrides), { ...process.env, SSLKEYLOGFILE: '' }, { lookup });
  const events: ProxyEvent[] = [];
  const waiters = new Set<(event: ProxyEvent) => void>();
  running.bus.subscribe((event) => {
    events.push(event);
    for (const waiter of waiters) waiter(event);
  });
  const waitFor = <T extends ProxyEventType>(type: T, predicate: (event: EventOf<T>) => boolean = () => true, timeoutMs = 15_000) =>
    new Promise<EventOf<T>>((resolve, reject) => {
      const match = (event: ProxyEvent): event is EventOf<T> => event.type === type && predicate(event as EventOf<T>);
      const past = events.find(match);
      if (past) return resolve(past as EventOf<T>);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`timed out waiting for a ${type} event; saw: ${events.map((e) => e.type).join(', ')}`));
      }, timeoutMs);
      const waiter = (event: ProxyEvent): void => {
        if (!match(event)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(event as EventOf<T>);
      };
      waiters.add(waiter);
    });
  return {
    ...running,
    events,
    dir,
    caPath: running.ca.certPath,
    waitFor,
    ofType: <T extends ProxyEventType>(type: T) => events.filter((e) => e.type === type) as EventOf<T>[],
    close: async () => {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
