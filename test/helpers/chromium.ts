// Debian's Chromium, driven by playwright-core, for end-to-end tests (DESIGN.md §5: `npx playwright install`
// cannot work here). A fresh user-data-dir per launch; the flags keep Chromium from reaching anything by itself.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { hasTool } from './tools.js';

export const CHROMIUM_PATH = process.env.MITMLAB_CHROMIUM ?? '/usr/bin/chromium';

/** The flags of DESIGN.md §5. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ChromiumOptions {
  /** Send *.test traffic through this proxy (`http://127.0.0.1:PORT`) via a PAC script; loopback goes direct. */
  proxy?: string;
  /** Base64 SHA-256 SPKI hashes Chromium accepts whatever the chain (--ignore-certificate-errors-spki-list): trusting the lab CA for this profile only. */
  trustSpki?: string[];
  /** More flags for one test. */
  extraArgs?: string[];
}

export interface RunningChromium {
  context: BrowserContext;
  page: Page;
  /** Console messages and page errors seen so far (CSP violations show up here). */
  console: string[];
  close(): Promise<void>;
}

/**
 * A PAC script instead of --proxy-server: test names (*.test, RFC 6761) go to mitmlab, loopback goes direct (the live
 * view), and everything else — Chromium's own background requests to Google services, which the DESIGN flags do not
 * silence — goes to a closed loopback port, so it neither leaves the machine nor clutters the recorded session.
 */
function pacUrl(proxy: string): string {
  const hostPort = new URL(proxy).host;
  const script = `function FindProxyForURL(url, host) {
  if (host === 'localhost' || host === '127.0.0.1' || host === '[::1]') return 'DIRECT';
  if (dnsDomainIs(host, '.test')) return 'PROXY ${hostPort}';
  return 'PROXY 127.0.0.1:9';
}`;
  return `data:application/x-ns-proxy-autoconfig;base64,${Buffer.from(script).toString('base64')}`;
}

/** True when Chromium is installed (see requireTools for the CI rule). */
export function hasChromium(): boolean {
  return hasTool(CHROMIUM_PATH) || hasTool('chromium');
}

/** Launches headless Chromium with a fresh profile; close() removes it. */
export async function launchChromium(options: ChromiumOptions = {}): Promise<RunningChromium> {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-chromium-'));
  // playwright passes the fresh profile as --user-data-dir itself (launchPersistentContext).
  const args = [...CHROMIUM_FLAGS];
  if (options.proxy) args.push(`--proxy-pac-url=${pacUrl(options.proxy)}`);
  if (options.trustSpki?.length) args.push(`--ignore-certificate-errors-spki-list=${options.trustSpki.join(',')}`);
  args.push(...(options.extraArgs ?? []));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    args,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1600, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleLines: string[] = [];
  page.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => consoleLines.push(`pageerror: ${error.message}`));
  return {
    context,
    page,
    console: consoleLines,
    close: async () => {
      await context.close().catch(() => undefined);
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
