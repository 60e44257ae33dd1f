// The store under load, with mitmlab as its own process (so kill -9 and RSS are its own):
//  - kill -9 during 2,000 requests: every flow whose response finished more than 1 s before the kill is on disk,
//    and the session reopens;
//  - 50,000 flows: RSS stays under a stated bound, and the whole session reloads from disk.

import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionStore } from '../../server/store/session-store.js';
import { listSessions, loadSession } from '../../server/store/sessions.js';
import { startCli, type CliProcess } from '../helpers/cli-process.js';
import { startOrigin, type Origin } from '../helpers/origin.js';

const HOST = 'origin.test';
/** RSS ceiling for a proxy holding 50,000 flow summaries (the default --flow-cap): the bound this test states. */
const RSS_BOUND_50K = 400 * 1024 * 1024;

let dir: string;
let origin: Origin;
let cli: CliProcess | null = null;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-load-'));
  origin = await startOrigin();
});
afterEach(async () => {
  await cli?.stop('SIGKILL');
  cli = null;
  await origin.close();
  await rm(dir, { recursive: true, force: true });
});

function startProxy(extra: string[] = []): Promise<CliProcess> {
  return startCli([
    'start', '--listen-port', '0', '--no-ui', '--quiet',
    '--data-dir', path.join(dir, 'data'), '--ca-dir', path.join(dir, 'ca'),
    '--resolve', `${HOST}:127.0.0.1`, '--session', 'load', ...extra,
  ]);
}

/** GETs through the proxy (absolute-form, keep-alive) from `parallel` loops until `stop()` says so. */
async function load(
  proxyPort: number,
  parallel: number,
  stop: (done: number) => boolean,
  onDone: (i: number, at: number) => void,
  firstI = 0,
): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: parallel });
  let next = firstI;
  let done = 0;
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxyPort, path: `http://${HOST}:${origin.port}/hello?i=${i}`, headers: { host: `${HOST}:${origin.port}` }, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) onDone(i, Date.now());
          resolve();
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  const loop = async (): Promise<void> => {
    while (!stop(done)) {
      const i = next++;
      try {
        await one(i);
      } catch {
        return; // the proxy was killed
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, loop));
  agent.destroy();
  return done;
}

/** `i` of every request whose response is in the stored session, and the events read. */
async function storedResponses(): Promise<{ done: Set<number>; events: number; warnings: string[] }> {
  const warnings: string[] = [];
  const session = await loadSession(path.join(dir, 'data'), 'load');
  const reader = await session.open({ onWarning: (m) => warnings.push(m) });
  const urlOf = new Map<string, number>();
  const done = new Set<number>();
  let events = 0;
  for await (const event of reader.events) {
    events++;
    if (event.type === 'http-request') urlOf.set(event.id, Number(new URL(event.url).searchParams.get('i')));
    if (event.type === 'http-response' && urlOf.has(event.id)) done.add(urlOf.get(event.id)!);
  }
  return { done, events, warnings };
}

describe('store under load', () => {
  it('keeps every flow that finished more than 1 s before kill -9, in the middle of a load', async () => {
    cli = await startProxy();
    const finished: Array<{ i: number; at: number }> = [];
    let killedAt = 0;
    const proxy = cli;
    const loadStart = Date.now();
    const total = await load(cli.proxyPort, 8, (done) => {
      // Kill in the middle of the load, after at least 1,500 flows and 3 s, so that on a fast machine too many flows
      // finished more than 1 s before it.
      if (killedAt === 0 && done >= 1500 && Date.now() - loadStart >= 3000) {
        killedAt = Date.now();
        proxy.child.kill('SIGKILL');
      }
      return killedAt !== 0 || done >= 100_000;
    }, (i, at) => finished.push({ i, at }));
    expect(killedAt).toBeGreaterThan(0);
    expect(total).toBeLessThan(100_000);
    await cli.stop('SIGKILL');
    cli = null;

    const { done, warnings } = await storedResponses();
    const required = finished.filter((f) => f.at < killedAt - 1000).map((f) => f.i);
    const missing = required.filter((i) => !done.has(i));
    // The check has something to check: at least the 2 s of load before the last second.
    expect(required.length).toBeGreaterThan(500);
    expect(missing).toEqual([]);
    // Only a torn last line may have been skipped.
    expect(warnings.filter((w) => !/last line was cut off/.test(w))).toEqual([]);
    expect((await listSessions(path.join(dir, 'data')))[0]).toMatchObject({ name: 'load', state: 'interrupted' });

    // Restart: the same session continues, and its earlier flows are there.
    cli = await startProxy();
    await load(cli.proxyPort, 2, (n) => n >= 10, () => {}, 1_000_000);
    expect(await cli.stop('SIGTERM')).toBe(0);
    cli = null;
    const after = await storedResponses();
    for (const i of done) expect(after.done.has(i)).toBe(true);
    expect(after.done.size).toBeGreaterThanOrEqual(done.size + 10);
    expect((await listSessions(path.join(dir, 'data')))).toMatchObject([{ name: 'load', state: 'closed' }]);
  }, 120_000);

  it(`keeps RSS under ${RSS_BOUND_50K / 2 ** 20} MiB over 50,000 flows, and reloads them all from disk`, async () => {
    cli = await startProxy();
    const proxy = cli;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, proxy.rss())), 250);
    const total = await load(cli.proxyPort, 16, (done) => done >= 50_000, () => {});
    clearInterval(sampler);
    peak = Math.max(peak, cli.rss());
    console.log(`50,000 flows: peak RSS ${(peak / 2 ** 20).toFixed(1)} MiB`);
    expect(total).toBeGreaterThanOrEqual(50_000);
    expect(peak).toBeLessThan(RSS_BOUND_50K);
    expect(await cli.stop('SIGTERM')).toBe(0);
    cli = null;

    const { done, events } = await storedResponses();
    expect(done.size).toBe(total);
    expect(events).toBeGreaterThanOrEqual(total * 2);
    // Reopening the session rebuilds the in-memory list, bounded by the cap, from disk.
    const store = await SessionStore.open({ dataDir: path.join(dir, 'data'), session: 'load', flowCap: 10_000, onWarning: () => {} });
    expect(store.flows()).toHaveLength(10_000);
    expect(store.meta().flowCount).toBe(total);
    await store.close();
  }, 300_000);
});
