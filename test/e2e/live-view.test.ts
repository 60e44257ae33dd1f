// End to end: Debian's Chromium (headless, DESIGN.md §5 flags, fresh profile) uses mitmlab as its proxy and trusts
// the lab CA for this profile only (--ignore-certificate-errors-spki-list with the CA's SPKI). A second tab shows the
// live view. Traffic to a real HTTPS origin on loopback (named through --resolve) must show up live, be filterable,
// show both TLS legs and both certificate chains, expose the login's password, and export as a valid HAR.
// Screenshots go to test-results/e2e/ (gitignored).

import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { startMitmlab, type TestMitmlab } from '../helpers/mitmlab.js';
import { displayPath } from '../../server/cli/start.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { requestOver, tlsThroughProxy } from '../helpers/proxy-client.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { requireTools } from '../helpers/tools.js';
import { ensureUiBuilt } from '../helpers/ui-build.js';

const harValidator = createRequire(import.meta.url)('har-validator') as { har(data: unknown): Promise<unknown> };
const repo = fileURLToPath(new URL('../..', import.meta.url));
const shots = path.join(repo, 'test-results', 'e2e');
const HOST = 'shop.lab.test';
const haveChromium = requireTools('chromium');

let pki: TestPki;
let origin: Origin;
let mitm: TestMitmlab;
let chrome: RunningChromium;
let ui: Page;
let site: Page;


async function shot(name: string): Promise<void> {
  await ui.screenshot({ path: path.join(shots, `${name}.png`) });
}

/**
 * Runs `body` with the flow list narrowed by `expression`, then puts back the filter typed before: the tests after it
 * rely on that one (`~m POST`), also when `body` fails.
 */
async function withFilter(expression: string, body: () => Promise<void>): Promise<void> {
  const before = await ui.inputValue('#flow-filter');
  await ui.fill('#flow-filter', expression);
  try {
    await body();
  } finally {
    await ui.fill('#flow-filter', before);
  }
}

/** Rows currently rendered for the origin's host. */
function originRows() {
  return ui.locator('[data-flow-id]', { hasText: HOST });
}

/**
 * Fetches `path` from the origin through mitmlab with a client that keeps the body as sent, then shows that flow's
 * Response tab (the flow list filtered to `filter`) while `body` runs, and closes the details after.
 */
async function onResponseTabOf(path: string, filter: string, body: () => Promise<void>): Promise<void> {
  const client = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca: await readFile(mitm.caPath, 'utf8') });
  expect((await requestOver(client, path, HOST)).status).toBe(200);
  client.destroy();
  await withFilter(filter, async () => {
    await expect.poll(() => originRows().count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await originRows().first().click();
    await ui.click('[data-tab="response"]');
    await body();
    await ui.click('[aria-label="Close details"]');
  });
}

describe.skipIf(!haveChromium)('live view in Chromium', () => {
  beforeAll(async () => {
    await mkdir(shots, { recursive: true });
    await ensureUiBuilt();
    pki = await createTestPki({ names: [HOST] });
    origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
    mitm = await startMitmlab({ upstreamCa: [pki.rootPath], resolve: [`${HOST}:127.0.0.1`] });
    chrome = await launchChromium({
      proxy: mitm.proxyUrl,
      trustSpki: [mitm.ca.spkiSha256Base64],
      // Chromium checks typed passwords against a Google service; through the proxy that would be one more row.
      extraArgs: ['--disable-features=PasswordLeakDetection'],
    });
    ui = chrome.page;
    site = await chrome.context.newPage();
  }, 120_000);

  afterAll(async () => {
    await chrome?.close();
    await mitm?.close();
    await origin?.close();
    await pki?.dispose();
  });

  it('opens with the token URL, which sets the cookie and lands on a live page', async () => {
    expect(mitm.uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    const response = await ui.goto(mitm.uiUrl!);
    expect(response?.status()).toBe(200);
    expect(ui.url()).toBe(`http://127.0.0.1:${mitm.uiPort}/`);
    await ui.locator('[data-status="live"]').waitFor();
    const cookies = await chrome.context.cookies(ui.url());
    const cookie = cookies.find((c) => c.name === `mitmlab_session_${mitm.uiPort}`);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toBe(mitm.token);
    await shot('01-empty');
  });

  it('shows rows live as the browser browses through the proxy', async () => {
    const base = `https://${HOST}:${origin.port}`;
    const hello = await site.goto(`${base}/hello`);
    expect(hello?.status()).toBe(200);
    expect(await site.textContent('body')).toContain('hello from origin');
    await site.goto(`${base}/gzip`);
    await site.goto(`${base}/binary`).catch(() => undefined); // a download, not a page
    // No reload: rows must arrive over the WebSocket.
    await expect.poll(() => originRows().count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => ui.locator('[data-flow-id]', { hasText: '/hello' }).count()).toBeGreaterThanOrEqual(1);
    await shot('02-rows');
  });

  it('keeps each column header over its column, and every column in view in a 1024 px window', async () => {
    const before = ui.viewportSize();
    try {
      for (const width of [1600, 1024]) {
        await ui.setViewportSize({ width, height: 700 });
        /** Left edges of the cells shown (a hidden column has no box). */
        const lefts = async (cells: ReturnType<Page['locator']>): Promise<number[]> => {
          const boxes = await Promise.all(Array.from({ length: await cells.count() }, (_, i) => cells.nth(i).boundingBox()));
          return boxes.filter((box) => box !== null && box.width > 0).map((box) => Math.round(box!.x));
        };
        const row = ui.locator('[data-flow-id]').first();
        expect(await lefts(row.locator(':scope > span'))).toEqual(await lefts(ui.locator('.row.head > span')));
        const flags = await row.locator(':scope > span').last().boundingBox();
        expect(flags!.x + flags!.width).toBeLessThanOrEqual(width);
      }
      // The header stays on one line.
      const header = await ui.locator('header').boundingBox();
      expect(header!.height).toBeLessThan(50);

    } finally {
      if (before) await ui.setViewportSize(before);
    }
  });

  it('shows a login POST under exposed secrets, masked until revealed', async () => {
    await site.goto(`https://${HOST}:${origin.port}/hello`);
    await site.setContent(
      '<form method="post" action="/login"><input name="username" value="alice"><input name="password" type="password" value="hunter2"><button>Log in</button></form>',
    );
    await Promise.all([site.waitForURL(`**/login`), site.click('button')]);
    expect(await site.textContent('body')).toContain('welcome');

    await ui.click('[data-page="secrets"]');
    const table = ui.locator('[data-testid="secrets-table"]');
    await table.waitFor();
    const row = table.locator('tr', { hasText: HOST }).filter({ hasText: 'password' }).first();
    await row.waitFor();
    // Where it was given away: the page (host, port, path) and the part of the message.
    expect(await row.textContent()).toContain(`${HOST}:${origin.port}/login`);
    expect(await row.textContent()).toContain('request body');
    await expect.poll(() => row.textContent()).not.toContain('hunter2');
    await row.locator('button', { hasText: 'Reveal' }).click();
    await expect.poll(() => row.textContent()).toContain('hunter2');
    await shot('03-secrets');

    // The login's Set-Cookie on the Response tab is masked in the header table too, until revealed.
    await row.locator('button', { hasText: 'Open flow' }).click();
    await ui.click('[data-tab="response"]');
    const cookie = ui.locator('table.headers tr', { hasText: 'set-cookie' }).first();
    await cookie.waitFor();
    await expect.poll(() => cookie.textContent()).not.toContain('s3cr3t-session-id');
    await cookie.locator('button', { hasText: 'Reveal' }).click();
    await expect.poll(() => cookie.textContent()).toContain('s3cr3t-session-id');
    // The form as the server reads it, decoded, with the password masked until revealed.
    await ui.click('[data-tab="request"]');
    const form = ui.locator('[data-testid="form-fields"]');
    await form.waitFor();
    expect(await form.locator('tr', { hasText: 'username' }).textContent()).toContain('alice');
    const password = form.locator('tr', { hasText: 'password' });
    expect(await password.textContent()).not.toContain('hunter2');
    await password.locator('button', { hasText: 'Reveal' }).click();
    await expect.poll(() => password.textContent()).toContain('hunter2');
    await ui.click('[aria-label="Close details"]');
  });

  it('narrows the list with a filter and explains a bad one', async () => {
    await ui.click('[data-page="flows"]');
    await expect.poll(() => originRows().count()).toBeGreaterThanOrEqual(3);
    const before = await originRows().count();
    await ui.fill('#flow-filter', '~m POST & ~d shop');
    await expect.poll(() => originRows().count()).toBe(1);
    expect(before).toBeGreaterThan(1);
    await expect.poll(() => ui.textContent('[data-testid="flow-count"]')).toMatch(/^\s*1 of \d+ flows/);
    await shot('04-filter');
    await ui.fill('#flow-filter', '~m POST & (');
    await ui.locator('#filter-error').waitFor();
    expect(await ui.textContent('#filter-error')).toMatch(/ends where a term was expected/);
    // The rows on screen are the last valid filter's, and the message says which one that is.
    expect(await ui.textContent('[data-testid="filter-still"]')).toBe('The list still follows the last valid filter, ~m POST & ~d shop.');
    await ui.fill('#flow-filter', '~m POST');
    await expect.poll(() => originRows().count()).toBe(1);
  });

  it('shows the interim 103 Early Hints on the Response tab, before the final response', async () => {
    await site.goto(`https://${HOST}:${origin.port}/early-hints`);
    expect(await site.textContent('body')).toContain('hinted');
    await withFilter('~u early-hints', async () => {
      await expect.poll(() => originRows().count(), { timeout: 10_000 }).toBe(1);
      await originRows().first().click();
      await ui.click('[data-tab="response"]');
      const interim = ui.locator('[data-testid="interim-response"]');
      await interim.first().waitFor();
      expect(await interim.first().textContent()).toMatch(/103\s+Early Hints/);
      await ui.click('[aria-label="Close details"]');
    });
  });

  it("lists a WebSocket's messages and its ping and pong on the WebSocket tab", async () => {
    await site.goto(`https://${HOST}:${origin.port}/`);
    const echoed = await site.evaluate(
      (url) =>
        new Promise<string>((resolve, reject) => {
          // The page's own WebSocket (this file is type-checked without the DOM library).
          type PageSocket = { onopen: () => void; onmessage: (message: { data: unknown }) => void; onerror: () => void; send(data: string): void; close(): void };
          const ws = new (globalThis as unknown as { WebSocket: new (url: string) => PageSocket }).WebSocket(url);
          const got: string[] = [];
          ws.onopen = () => ws.send('ping me');
          ws.onmessage = (message) => {
            got.push(String(message.data));
            // The origin's greeting, then the echo; its ping came before the echo, and Chromium answered it.
            if (got.length === 2) {
              ws.close();
              resolve(got.join(' | '));
            }
          };
          ws.onerror = () => reject(new Error('WebSocket error'));
        }),
      `wss://${HOST}:${origin.port}/ws`,
    );
    expect(echoed).toBe('hello | echo: ping me');
    await withFilter('~u /ws', async () => {
      await expect.poll(() => originRows().count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      await originRows().last().click();
      await ui.click('[data-tab="websocket"]');
      const controls = ui.locator('[data-testid="ws-control"]');
      await expect.poll(() => controls.allTextContents(), { timeout: 10_000 }).toEqual(['ping', 'pong']);
      const table = await ui.locator('table.messages').textContent();
      expect(table).toMatch(/echo: ping me/);
      await shot('04b-websocket');
      await ui.click('[aria-label="Close details"]');
    });
  });

  it('says on the Response tab when a body could not be decoded, and that it is stored as received', async () => {
    // Fetched whole by a client that does not decode (Chromium drops such a page as soon as decoding fails, which
    // cuts the response short: a cut-short body is decoded as far as it goes, by design).
    await onResponseTabOf('/gzip-broken', '~u gzip-broken', async () => {
      const summary = ui.locator('[data-testid="body-summary"]');
      await expect.poll(() => summary.last().textContent(), { timeout: 10_000 }).toMatch(/stored as received: it could not be decoded from gzip \(unexpected end of file\)/);
      // The coded bytes are shown as a hex dump, not as text.
      await ui.locator('pre.hex').first().waitFor();
    });
  });

  it("previews a captured image with its own size, and names a 1 × 1 one as the tracking pixel it likely is", async () => {
    await onResponseTabOf('/pixel.gif', '~u pixel', async () => {
      const size = ui.locator('[data-testid="image-size"]');
      await expect.poll(() => size.last().textContent(), { timeout: 10_000 }).toBe('1 × 1 px (a tracking pixel, most likely)');
    });
  });

  it("shows both legs' ciphers on the TLS tab", async () => {
    await originRows().first().click();
    await ui.click('[data-tab="tls"]');
    const client = ui.locator('[data-testid="cipher-client"]');
    const upstream = ui.locator('[data-testid="cipher-upstream"]');
    await expect.poll(() => client.textContent(), { timeout: 10_000 }).toMatch(/^TLS_[A-Z0-9_]+$/);
    await expect.poll(() => upstream.textContent()).toMatch(/^TLS_[A-Z0-9_]+$/);
    const established = mitm.ofType('tls-established').filter((e) => e.sni === HOST);
    expect(established.map((e) => e.cipher)).toContain(await client.textContent());
    expect(established.map((e) => e.cipher)).toContain(await upstream.textContent());
    expect(await ui.locator('[data-testid="ja4-client"]').textContent()).toMatch(/^t1[23]d/);
    await shot('05-tls');
    // The Timing tab keeps the connection's handshakes apart from this request's total.
    await ui.click('[data-tab="timing"]');
    await ui.locator('td', { hasText: 'when the connection opened (not part of the total)' }).first().waitFor({ timeout: 10_000 });
    await ui.click('[data-tab="tls"]');
  });

  it('shows both issuers on the certificates tab, and the four checks', async () => {
    await ui.click('[data-tab="certificates"]');
    const original = ui.locator('[data-chain="original"][data-position="0"] [data-field="issuer"]');
    const forged = ui.locator('[data-chain="forged"][data-position="0"] [data-field="issuer"]');
    await original.waitFor();
    expect(await original.textContent()).toContain('mitmlab test origin root');
    expect(await forged.textContent()).toContain(mitm.ca.subject.match(/CN=([^,]+)/)![1]!);
    expect(await ui.locator('[data-testid="verification-checks"] li').count()).toBe(4);
    // What the browser made of the forged chain: it trusts the lab CA here.
    expect(await ui.locator('[data-testid="browser-verdict"]').textContent()).toMatch(/accepted a certificate signed by\s+mitmlab's lab CA/);
    await shot('06-certificates');
  });

  it('says on the certificates tab when a client refused the forged chain, and why', async () => {
    // A client that does not trust the lab CA (Node's default store): it refuses the forged certificate.
    const startedAt = Date.now();
    const refused = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST }).then(
      () => false,
      () => true,
    );
    expect(refused).toBe(true);
    const failed = await mitm.waitFor('tls-failed', (e) => e.leg === 'client' && e.cause === 'cert-rejected' && e.at >= startedAt);
    await withFilter('~failed', async () => {
      // This connection's own row (its id is the connection's): other failed rows may already be listed, and the
      // newest one may not be yet.
      const row = ui.locator(`[data-flow-id="${failed.conn}"]`);
      await row.waitFor({ timeout: 10_000 });
      await row.click();
      await ui.click('[data-tab="certificates"]');
      const verdict = ui.locator('[data-testid="browser-verdict"]');
      await expect.poll(() => verdict.textContent(), { timeout: 10_000 }).toMatch(/refused by the browser/);
      expect(await verdict.textContent()).toMatch(/does not trust|lab CA/);
      await shot('06b-certificates-refused');
      await ui.click('[data-tab="timing"]');
      await ui.locator('p', { hasText: 'No request: the TLS handshake failed, so nothing was sent on this connection.' }).waitFor({ timeout: 10_000 });
      await ui.click('[aria-label="Close details"]');
    });
  });

  it("says on the TLS tab when a connection reused another one's origin connection, and shows that handshake", async () => {
    const ca = await readFile(mitm.caPath, 'utf8');
    for (const n of [1, 2]) {
      const client = await tlsThroughProxy({ proxyPort: mitm.proxyPort, authority: `${HOST}:${origin.port}`, servername: HOST, ca });
      expect((await requestOver(client, `/hello?reuse=${n}`, HOST)).status).toBe(200);
      client.destroy();
      const request = await mitm.waitFor('http-request', (e) => e.url.endsWith(`reuse=${n}`));
      await mitm.waitFor('connection-close', (e) => e.conn === request.conn);
    }
    const second = await mitm.waitFor('http-request', (e) => e.url.endsWith('reuse=2'));
    const reused = await mitm.waitFor('upstream-reused', (e) => e.conn === second.conn);
    const opener = mitm.ofType('tls-established').find((e) => e.conn === reused.from && e.leg === 'upstream')!;
    await withFilter('~u reuse=2', async () => {
      await expect.poll(() => originRows().count(), { timeout: 10_000 }).toBe(1);
      await originRows().first().click();
      await ui.click('[data-tab="tls"]');
      const note = ui.locator('[data-testid="upstream-reused"]');
      await expect.poll(() => note.textContent(), { timeout: 10_000 }).toContain(reused.from);
      expect(await note.textContent()).toMatch(/What follows is that connection’s handshake/);
      await expect.poll(() => ui.locator('[data-testid="cipher-upstream"]').textContent(), { timeout: 10_000 }).toBe(opener.cipher);
      await shot('05b-tls-reused');
      await ui.click('[aria-label="Close details"]');
    });
  });

  it('exports the session as a HAR file that har-validator accepts', async () => {
    await ui.click('[data-page="sessions"]');
    const link = ui.locator('[data-export="har"]');
    await link.waitFor();
    const [download] = await Promise.all([ui.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toMatch(/\.har$/);
    const file = path.join(shots, 'export.har');
    await download.saveAs(file);
    const har = JSON.parse(await readFile(file, 'utf8')) as { log: { entries: Array<{ request: { method: string; url: string } }> } };
    await expect(harValidator.har(har)).resolves.toBeTruthy();
    expect(har.log.entries.some((e) => e.request.method === 'POST' && e.request.url.endsWith('/login'))).toBe(true);
    expect(har.log.entries.some((e) => e.request.method === 'GET')).toBe(true);

    // Narrowed by the filter typed on the Flows page (still `~m POST`).
    await ui.check('input[type="checkbox"]');
    const [filtered] = await Promise.all([ui.waitForEvent('download'), link.click()]);
    const filteredFile = path.join(shots, 'export-post.har');
    await filtered.saveAs(filteredFile);
    const narrowed = JSON.parse(await readFile(filteredFile, 'utf8')) as typeof har;
    await expect(harValidator.har(narrowed)).resolves.toBeTruthy();
    expect(narrowed.log.entries.length).toBeGreaterThan(0);
    expect(narrowed.log.entries.every((e) => e.request.method === 'POST')).toBe(true);
    await shot('07-sessions');
  });

  it("the CA page's self-test finds this browser intercepted, with the lab CA trusted", async () => {
    await ui.click('[data-page="ca"]');
    expect(await ui.textContent('[data-testid="ca-sha256"]')).toBe(mitm.ca.sha256Fingerprint);
    // The test's CA lives in a temp folder, not ./ca: the page names the file mitmlab really uses.
    expect(await ui.textContent('[data-testid="ca-path"]')).toBe(displayPath(mitm.caPath));
    await ui.click('[data-action="self-test"]');
    const verdict = ui.locator('[data-testid="self-test-verdict"]');
    await verdict.waitFor({ timeout: 20_000 });
    expect(await verdict.getAttribute('data-verdict')).toBe('trusted');
    await shot('08-ca-self-test');
    // The probe has no origin by design: that is not recorded as a failed TLS handshake (nor flagged TLS✗).
    const probe = mitm.ofType('connect').filter((e) => e.host.endsWith('.selftest.mitmlab.test'));
    expect(probe.length).toBeGreaterThan(0);
    expect(mitm.ofType('tls-failed').filter((e) => probe.some((p) => p.conn === e.conn))).toEqual([]);
  });

  it('the self-test tells a browser that does not trust the CA, and one that does not use the proxy', async () => {
    const verdictIn = async (options: Parameters<typeof launchChromium>[0]): Promise<string | null> => {
      const other = await launchChromium(options);
      try {
        await other.page.goto(mitm.uiUrl!);
        await other.page.click('[data-page="ca"]');
        await other.page.click('[data-action="self-test"]');
        const verdict = other.page.locator('[data-testid="self-test-verdict"]');
        await verdict.waitFor({ timeout: 20_000 });
        await other.page.screenshot({ path: path.join(shots, `09-self-test-${await verdict.getAttribute('data-verdict')}.png`) });
        return await verdict.getAttribute('data-verdict');
      } finally {
        await other.close();
      }
    };
    expect(await verdictIn({ proxy: mitm.proxyUrl })).toBe('untrusted');
    // No proxy: names must fail locally, never reach a real resolver (tests stay on loopback).
    expect(await verdictIn({ extraArgs: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'] })).toBe('not-proxied');
  });

  it("the event log says once why the untrusting browser refused (the server's sentence, as recorded)", async () => {
    await mitm.waitFor('tls-failed', (e) => e.leg === 'client' && e.cause === 'cert-rejected');
    // The latest refusal: the self-test's untrusting browser (an earlier test refused with a Node client).
    const refused = mitm.ofType('tls-failed').filter((e) => e.leg === 'client' && e.cause === 'cert-rejected').at(-1)!;
    await ui.click('[data-page="log"]');
    const row = ui.locator('[data-event-type="tls-failed"] .sentence', { hasText: 'does not trust the lab CA' }).first();
    await row.waitFor({ timeout: 10_000 });
    const text = (await row.textContent()) ?? '';
    expect(text.trim()).toBe(refused.message);
    expect(text.match(/exactly what protects you/g)).toHaveLength(1);
  });

  it('keeps the row just opened in view above the detail pane', async () => {
    const before = ui.viewportSize();
    await ui.click('[data-page="flows"]');
    await ui.setViewportSize({ width: 1024, height: 600 });
    try {
      await withFilter('', async () => {
        const rows = ui.locator('[data-flow-id]');
        // More rows than the list shows once the pane has opened under it.
        expect(mitm.store.flows().length).toBeGreaterThan(12);
        const last = rows.last();
        await last.click();
        await ui.locator('[aria-label="Close details"]').waitFor();
        const list = ui.locator('[role="rowgroup"][aria-label="Flow rows"]');
        await expect
          .poll(async () => {
            const [row, view] = [await last.boundingBox(), await list.boundingBox()];
            return row !== null && view !== null && row.y >= view.y - 1 && row.y + row.height <= view.y + view.height + 1;
          })
          .toBe(true);
        await ui.click('[aria-label="Close details"]');
      });
    } finally {
      if (before) await ui.setViewportSize(before);
    }
  });

  it('ran without Content-Security-Policy violations or page errors', () => {
    expect(chrome.console.filter((line) => /Content Security Policy|pageerror|Refused to/i.test(line))).toEqual([]);
  });
});
