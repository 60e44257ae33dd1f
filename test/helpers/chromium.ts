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
  /** Send traffic through this proxy (`http://127.0.0.1:PORT`). Loopback addresses still go direct (Chromium's implicit bypass). */
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

/** True when Chromium is installed (see requireTools for the CI rule). */
export function hasChromium(): boolean {
  return hasTool(CHROMIUM_PATH) || hasTool('chromium');
}

/** Launches headless Chromium with a fresh profile; close() removes it. */
export async function launchChromium(options: ChromiumOptions = {}): Promise<RunningChromium> {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-chromium-'));
  // playwright passes the fresh profile as --user-data-dir itself (launchPersistentContext).
  const args = [...CHROMIUM_FLAGS];
  if (options.proxy) args.push(`--proxy-server=${options.proxy}`);
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
