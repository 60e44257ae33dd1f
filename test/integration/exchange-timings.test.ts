// The send / wait / receive split of each exchange (HAR 1.2 §timings), with mitmlab as its own process and curl as the
// client: the split must add up to the exchange's total, and an exchange is never all "receive". The request counted
// as sent only when the origin's socket reported the write done, which over a TLS leg comes a setImmediate later: the
// response was often read first, and the exchange recorded with send and wait 0.

import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyEvent } from '../../server/protocol/events.js';
import { startCli, type CliProcess } from '../helpers/cli-process.js';
import { curl } from '../helpers/curl.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';

const HOST = 'origin.test';
let dir: string;
let pki: TestPki;
let origin: Origin;
let cli: CliProcess;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-timings-'));
  pki = await createTestPki({ names: [HOST] });
  origin = await startOrigin({ cert: pki.valid.certPem, key: pki.valid.keyPem });
  cli = await startCli(['start', '--listen-port', '0', '--no-ui', '--quiet', '--session', 'timings', '--data-dir', path.join(dir, 'data'), '--ca-dir', path.join(dir, 'ca'), '--resolve', `${HOST}:127.0.0.1`, '--upstream-ca', pki.rootPath]);
});

afterAll(async () => {
  await cli?.stop();
  await origin?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('exchange timings', () => {
  it('send, wait and receive add up to the total, for GETs and POSTs from curl', async () => {
    const options = { proxy: `http://127.0.0.1:${cli.proxyPort}`, cacert: path.join(dir, 'ca', 'mitmlab-ca.pem') };
    for (let i = 0; i < 15; i++) {
      expect((await curl(`https://${HOST}:${origin.port}/hello?split=${i}`, options)).status).toBe(200);
      expect((await curl(`https://${HOST}:${origin.port}/echo?split=${i}`, { ...options, extra: ['--data', `n=${i}`] })).status).toBe(200);
    }
    await cli.stop();
    const sessions = path.join(dir, 'data', 'sessions');
    const [id] = await readdir(sessions);
    const events = (await readFile(path.join(sessions, id!, 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => JSON.parse(line) as ProxyEvent);
    const responses = events.flatMap((e) => (e.type === 'http-response' ? [e] : []));
    expect(responses).toHaveLength(30);
    for (const { id: flow, timings: t } of responses) {
      expect(t.send + t.wait, flow).toBeGreaterThan(0);
      expect(Math.max(t.connect, 0) + t.send + t.wait + t.receive, flow).toBeCloseTo(t.total, 6);
    }
  });
});
