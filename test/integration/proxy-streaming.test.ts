// Bodies stream through: a 256 MiB download crosses an intercepted connection while the proxy's memory stays flat.
// mitmlab runs as its own process so its RSS is its own.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startCli, type CliProcess } from '../helpers/cli-process.js';
import { run } from '../helpers/run.js';
import { requireTools } from '../helpers/tools.js';

const HOST = 'origin.test';
const SIZE = 256 * 1024 * 1024;
let pki: TestPki;
let origin: Origin;
let cli: CliProcess;
let dir: string;
const haveCurl = requireTools('curl');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-stream-'));
  pki = await createTestPki({ names: [HOST] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  cli = await startCli([
    'start', '--listen-port', '0', '--no-ui', '--quiet',
    '--data-dir', path.join(dir, 'data'), '--ca-dir', path.join(dir, 'ca'),
    '--upstream-ca', pki.rootPath, '--resolve', `${HOST}:127.0.0.1`,
  ]);
});

afterAll(async () => {
  await cli?.stop();
  await origin?.close();
  await rm(dir, { recursive: true, force: true });
});

it.skipIf(!haveCurl)('a 256 MiB download streams with bounded RSS', async () => {
  // Warm up: one small request so the first-contact costs are not counted as growth.
  const ca = path.join(dir, 'ca', 'mitmlab-ca.pem');
  const common = ['-sS', '--max-time', '120', '--proxy', `http://127.0.0.1:${cli.proxyPort}`, '--cacert', ca, '-o', '/dev/null', '-w', '%{http_code} %{size_download}'];
  expect((await run('curl', [...common, `https://${HOST}:${origin.port}/hello`])).stdout).toMatch(/^200 /);
  const baseline = cli.rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, cli.rss())), 50);
  const result = await run('curl', [...common, `https://${HOST}:${origin.port}/bytes?n=${SIZE}`], { timeoutMs: 150_000 });
  clearInterval(sampler);
  expect(result.stderr).toBe('');
  expect(result.stdout).toBe(`200 ${SIZE}`);
  const growth = peak - baseline;
  console.log(`RSS baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, peak ${(peak / 2 ** 20).toFixed(1)} MiB, growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
  expect(growth).toBeLessThan(64 * 1024 * 1024);
}, 180_000);
