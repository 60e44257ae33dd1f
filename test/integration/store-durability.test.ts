// kill -9 while a session is being written: every flow whose response was emitted more than 1 s before the kill is
// on disk, every line parses (at most a torn tail is skipped), and the session opens again (issue 4, Durability).

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionStore } from '../../server/store/session-store.js';
import { listSessions, loadSession } from '../../server/store/sessions.js';

const writer = fileURLToPath(new URL('../unit/store/durability-writer.ts', import.meta.url));

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mitmlab-durability-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('store durability', () => {
  it('loses at most the last second of events to kill -9', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const progress: Array<{ n: number; at: number }> = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let buffered = '';
    const started = new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith('ready')) continue;
          const [n, at] = line.split(' ').map(Number);
          progress.push({ n: n!, at: at! });
          // Kill once the writer has been running for a while (2.5 s of its own clock).
          if (progress[0] && at! - progress[0].at > 2500) resolve();
        }
      });
    });
    await started;
    child.removeAllListeners('exit');
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await exited;

    const warnings: string[] = [];
    const session = await loadSession(dataDir, 'durability');
    const reader = await session.open({ onWarning: (m) => warnings.push(m) });
    expect(reader.header?.session.name).toBe('durability');
    let done = 0;
    let requests = 0;
    const bodies: Array<string | null> = [];
    for await (const event of reader.events) {
      if (event.type === 'http-request') {
        requests++;
        // Lines are whole and in order: flow n is the n-th request.
        expect(event.id).toBe(`c${requests}.1`);
      }
      if (event.type === 'http-response') {
        done++;
        expect(event.id).toBe(`c${done}.1`);
        bodies.push((await session.blob(event.body!.sha256))?.toString() ?? null);
      }
    }
    await session.close();
    // Bodies go to the session's pack at the same cadence as the events: each reads back whole or, for the last
    // fraction of a second, as not stored; never as other bytes.
    expect(bodies.filter((body, i) => body !== null && body !== `body ${i + 1}`)).toEqual([]);
    // Only a torn last line may be skipped; nothing in the middle is damaged.
    expect(warnings.filter((w) => !/last line was cut off/.test(w))).toEqual([]);
    const mustHave = progress.filter((p) => p.at < killedAt - 1000).at(-1);
    expect(mustHave).toBeDefined();
    expect(done).toBeGreaterThanOrEqual(mustHave!.n);
    expect(done).toBeGreaterThan(0);
    expect(bodies.slice(0, mustHave!.n).filter((body) => body === null)).toHaveLength(0);

    // The crashed session is listed as interrupted and can be continued.
    expect((await listSessions(dataDir))[0]).toMatchObject({ name: 'durability', state: 'interrupted' });
    const again = await SessionStore.open({ dataDir, session: 'durability', onWarning: () => {} });
    expect(again.id).toBe(session.id);
    expect(again.meta().flowCount).toBe(requests);
    await again.close();
  });
});
