// End to end: a session recorded by one mitmlab run is opened, read-only, in the live view of the next run on the same
// data dir. Debian's Chromium (DESIGN.md §5 flags, fresh profile, lab CA trusted for this profile only) browses a
// real HTTPS origin on loopback through the first run; mitmlab then restarts; the live view's "Sessions & export"
// page opens the first session, whose rows, filter, TLS and certificate tabs, lazily loaded bodies, secrets and event
// log show under a "viewing session …" banner, while live traffic keeps arriving in the background. "Back to live"
// shows the new session with that traffic. Screenshots go to test-results/e2e/ (gitignored).

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMitmlab, type RunningMitmlab, type StartOptions } from '../../server/cli/start.js';
import type { EventOf, ProxyEvent } from '../../server/protocol/events.js';
import { isLogEvent } from '../../server/protocol/wire.js';
import { launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { testOptions } from '../helpers/mitmlab.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { requireTools } from '../helpers/tools.js';
import { ensureUiBuilt } from '../helpers/ui-build.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const shots = path.join(repo, 'test-results', 'e2e');
const HOST = 'shop.lab.test';
/** Not in --resolve: the upstream lookup fails (locally, no DNS), which the event log explains. */
const NOWHERE = 'nowhere.lab.test';
const haveChromium = requireTools('chromium');

let pki: TestPki;
let origin: Origin;
let dir: string;
let chrome: RunningChromium;
let ui: Page;
let site: Page;
/** The run that recorded the past session, and its events. */
let first: RunningMitmlab | null = null;
const firstEvents: ProxyEvent[] = [];
let firstSession: string;
let firstPorts: { proxy: number; ui: number };
/** The run after the restart. */
let second: RunningMitmlab | null = null;
const secondEvents: ProxyEvent[] = [];


/** Starts mitmlab on the shared data dir, recording its events; names outside --resolve fail like missing DNS names. */
async function run(overrides: Partial<StartOptions>, into: ProxyEvent[]): Promise<RunningMitmlab> {
  const lookup = async (host: string): Promise<string> => {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };
  const options = await testOptions(dir, { upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`], ...overrides });
  const running = await startMitmlab(options, { ...process.env, SSLKEYLOGFILE: '' }, { lookup });
  running.bus.subscribe((event) => void into.push(event));
  return running;
}

const responses = (events: ProxyEvent[]) => events.filter((e): e is EventOf<'http-response'> => e.type === 'http-response');
const requestsTo = (events: ProxyEvent[], suffix: string) =>
  events.filter((e): e is EventOf<'http-request'> => e.type === 'http-request' && e.url.endsWith(suffix));

async function shot(name: string): Promise<void> {
  await ui.screenshot({ path: path.join(shots, `${name}.png`) });
}

/** Rows currently rendered for the origin's host. */
function originRows() {
  return ui.locator('[data-flow-id]', { hasText: HOST });
}

describe.skipIf(!haveChromium)('a past session in the live view, after a restart', () => {
  beforeAll(async () => {
    await mkdir(shots, { recursive: true });
    await ensureUiBuilt();
    pki = await createTestPki({ names: [HOST] });
    origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
    dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-past-'));
    first = await run({}, firstEvents);
    firstSession = first.store.id;
    firstPorts = { proxy: first.proxyPort, ui: first.uiPort! };
    chrome = await launchChromium({
      proxy: first.proxyUrl,
      trustSpki: [first.ca.spkiSha256Base64],
      // Chromium checks typed passwords against a Google service; through the proxy that would be one more row.
      extraArgs: ['--disable-features=PasswordLeakDetection'],
    });
    ui = chrome.page;
    site = await chrome.context.newPage();
  }, 120_000);

  afterAll(async () => {
    await chrome?.close();
    await second?.close();
    await first?.close();
    await origin?.close();
    await pki?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records a session: pages, a login POST and a failed upstream, then stops', async () => {
    const base = `https://${HOST}:${origin.port}`;
    expect((await site.goto(`${base}/hello`))?.status()).toBe(200);
    await site.setContent(
      '<form method="post" action="/login"><input name="username" value="alice"><input name="password" type="password" value="hunter2"><button>Log in</button></form>',
    );
    await Promise.all([site.waitForURL('**/login'), site.click('button')]);
    expect(await site.textContent('body')).toContain('welcome');
    await site.goto(`https://${NOWHERE}/`).catch(() => undefined);
    await expect.poll(() => responses(firstEvents).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => firstEvents.filter(isLogEvent).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    expect(requestsTo(firstEvents, '/login').map((e) => e.method)).toEqual(['POST']);
    const stopping = first!;
    first = null;
    await stopping.close();
  });

  it('restarts on the same data dir and ports; the live view starts empty with the new session', async () => {
    // The same ports, as a user restarting `mitmlab start` gets: Chromium keeps using its proxy setting.
    second = await run({ listenPort: firstPorts.proxy, uiPort: firstPorts.ui }, secondEvents);
    expect(second.store.id).not.toBe(firstSession);
    expect((await ui.goto(second.uiUrl!))?.status()).toBe(200);
    await ui.locator('[data-status="live"]').waitFor();
    await expect.poll(() => ui.textContent('[data-testid="flow-count"]')).toMatch(/^\s*0 flows/);
    expect(await ui.locator('[data-testid="past-banner"]').count()).toBe(0);
  });

  it('opens the recorded session from "Sessions & export": banner, its rows, and the filter', async () => {
    await ui.click('[data-page="sessions"]');
    const open = ui.locator(`[data-open-session="${firstSession}"]`);
    await open.waitFor();
    // The session being recorded is the live view itself: it has no "Open".
    expect(await ui.locator(`[data-open-session="${second!.store.id}"]`).count()).toBe(0);
    await open.click();

    const banner = ui.locator('[data-testid="past-banner"]');
    await banner.waitFor();
    expect(await banner.getAttribute('data-session')).toBe(firstSession);
    await expect.poll(() => banner.getAttribute('data-state'), { timeout: 15_000 }).toBe('loaded');
    expect(await banner.textContent()).toMatch(new RegExp(`Viewing session ${firstSession} \\(recorded .+\\) — read-only`));
    expect(await banner.locator('[data-action="back-to-live"]').textContent()).toMatch(/Back to live/);
    // The status pill names the session still being recorded as such, not as the one shown.
    expect(await ui.textContent('[data-testid="live-session"]')).toBe(`still recording ${second!.store.id}`);
    expect(ui.url()).toMatch(/#\/flows$/);

    await expect.poll(() => originRows().count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    expect(await ui.locator('[data-flow-id]', { hasText: '/hello' }).count()).toBeGreaterThanOrEqual(1);
    // Read-only: nothing to pause or clear.
    expect(await ui.locator('[data-action="pause"]').count()).toBe(0);
    expect(await ui.locator('[data-action="clear"]').count()).toBe(0);
    await shot('past-01-rows');

    await ui.fill('#flow-filter', '~m POST & ~d shop');
    await expect.poll(() => originRows().count()).toBe(1);
    expect(await originRows().first().textContent()).toContain('/login');
  });

  it("shows the past flow's TLS legs and certificates, and loads its body lazily from the blob store", async () => {
    await ui.fill('#flow-filter', '~u /hello');
    await expect.poll(() => originRows().count()).toBe(1);
    await originRows().first().click();

    await ui.click('[data-tab="response"]');
    await expect.poll(() => ui.locator('.detail [data-body-kind]').first().textContent(), { timeout: 10_000 }).toContain('hello from origin');

    await ui.click('[data-tab="tls"]');
    const client = ui.locator('[data-testid="cipher-client"]');
    const upstream = ui.locator('[data-testid="cipher-upstream"]');
    await expect.poll(() => client.textContent(), { timeout: 10_000 }).toMatch(/^TLS_[A-Z0-9_]+$/);
    const established = firstEvents.filter((e): e is EventOf<'tls-established'> => e.type === 'tls-established' && e.sni === HOST);
    expect(established.filter((e) => e.leg === 'client').map((e) => e.cipher)).toContain(await client.textContent());
    expect(established.filter((e) => e.leg === 'upstream').map((e) => e.cipher)).toContain(await upstream.textContent());
    await shot('past-02-tls');

    await ui.click('[data-tab="certificates"]');
    const original = ui.locator('[data-chain="original"][data-position="0"] [data-field="issuer"]');
    await original.waitFor();
    expect(await original.textContent()).toContain('mitmlab test origin root');
    expect(await ui.locator('[data-chain="forged"][data-position="0"] [data-field="issuer"]').textContent()).toContain(
      second!.ca.subject.match(/CN=([^,]+)/)![1]!,
    );
  });

  it("shows the past session's secrets and event log, and keeps live traffic out of it", async () => {
    await ui.click('[data-page="secrets"]');
    const row = ui.locator('[data-testid="secrets-table"] tr', { hasText: HOST }).filter({ hasText: 'password' }).first();
    await row.waitFor();
    await row.locator('button', { hasText: 'Reveal' }).click();
    await expect.poll(() => row.textContent()).toContain('hunter2');

    await ui.click('[data-page="log"]');
    const recorded = firstEvents.filter(isLogEvent);
    await expect.poll(() => ui.locator('ol.log li').count()).toBe(recorded.length);
    expect(await ui.locator('ol.log').textContent()).toContain(NOWHERE);
    await shot('past-03-log');

    // Live traffic while the past session is shown: the new run records it, the past view does not move.
    await site.goto(`https://${HOST}:${origin.port}/gzip`);
    await expect.poll(() => responses(secondEvents).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    await ui.click('[data-page="flows"]');
    await ui.fill('#flow-filter', '');
    await expect.poll(() => originRows().count()).toBeGreaterThanOrEqual(2);
    expect(await ui.locator('[data-flow-id]', { hasText: '/gzip' }).count()).toBe(0);
  });

  it('a reload keeps the past session open in this tab', async () => {
    await ui.reload();
    const banner = ui.locator('[data-testid="past-banner"]');
    await banner.waitFor({ timeout: 15_000 });
    expect(await banner.getAttribute('data-session')).toBe(firstSession);
    await expect.poll(() => banner.getAttribute('data-state'), { timeout: 15_000 }).toBe('loaded');
    expect(await ui.locator('[data-flow-id]', { hasText: '/gzip' }).count()).toBe(0);
  });

  it('goes back to live: the new session, with the traffic that arrived meanwhile, and rows keep arriving', async () => {
    await ui.click('[data-testid="past-banner"] [data-action="back-to-live"]');
    await expect.poll(() => ui.locator('[data-testid="past-banner"]').count()).toBe(0);
    expect(await ui.textContent('[data-testid="live-session"]')).toBe(`session ${second!.store.id}`);
    await expect.poll(() => ui.locator('[data-flow-id]', { hasText: '/gzip' }).count()).toBe(1);
    expect(await ui.locator('[data-flow-id]', { hasText: '/login' }).count()).toBe(0);
    expect(await ui.locator('[data-action="pause"]').count()).toBe(1);

    await site.goto(`https://${HOST}:${origin.port}/hello`);
    await expect.poll(() => ui.locator('[data-flow-id]', { hasText: '/hello' }).count(), { timeout: 15_000 }).toBe(1);
    // Back to live is remembered too: a reload stays live.
    await ui.reload();
    await expect.poll(() => ui.locator('[data-flow-id]', { hasText: '/gzip' }).count(), { timeout: 15_000 }).toBe(1);
    expect(await ui.locator('[data-testid="past-banner"]').count()).toBe(0);
    await shot('past-04-back-to-live');
  });

  it('ran without Content-Security-Policy violations or page errors', () => {
    expect(chrome.console.filter((line) => /Content Security Policy|pageerror|Refused to/i.test(line))).toEqual([]);
  });
});
