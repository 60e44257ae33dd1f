// The event-loop probe against three real kinds of lateness: the loop computing, the loop sleeping in a blocking
// call, and the loop's thread starved of a CPU by another process. Only the first two are blocks the proxy caused.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitNsFrom } from '../../../bench/probe/loop-delay.mjs';
import { requireTools } from '../../helpers/tools.js';

const probe = fileURLToPath(new URL('../../../bench/probe/loop-delay.mjs', import.meta.url));

interface Report {
  maxMs: number;
  busyMaxMs: number;
  processBusyMaxMs: number;
  bound: string;
}

// Resets the probe, prints "ready", lets the chosen phase happen, then prints the probe's report for it.
const script = `
const { readFileSync } = require('node:fs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const spin = (ms) => { const end = performance.now() + ms; while (performance.now() < end); };
// Spins until this thread has run for ms on a CPU: on a busy machine wall time would include time it waited for one.
const schedstat = '/proc/self/task/' + process.pid + '/schedstat';
const ranNs = () => Number(readFileSync(schedstat, 'latin1').split(' ')[0]);
const spinCpu = (ms) => { const end = ranNs() + ms * 1e6; while (ranNs() < end); };
async function report() {
  process.kill(process.pid, 'SIGUSR2');
  await sleep(80);
  return JSON.parse(readFileSync(process.env.BENCH_LOOP_PROBE_OUT, 'utf8'));
}
// The script's own first-time costs come before the measured phase, or they would be blocks of its own making there:
// Node creates process.stdout on first use (10-30 ms: it loads the stream modules), the first console.log sets up the
// console (so "ready" is written to stdout directly), and with --single-threaded V8 compiles the hot spin loop on the
// loop's thread (5-10 ms).
process.stdout;
for (let i = 0; i < 100; i++) spin(1);
(async () => {
  await sleep(30);
  await report();
  process.stdout.write('ready\\n');
  const phase = process.argv[1];
  if (phase === 'spin') spinCpu(80);
  if (phase === 'sleep') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 80);
  if (phase === 'starved') {
    // Short slices of work, so the loop stays runnable while another process holds the only CPU it may use.
    const end = performance.now() + 700;
    while (performance.now() < end) { spin(1); await new Promise((r) => setImmediate(r)); }
  }
  await sleep(30);
  console.log(JSON.stringify(await report()));
})();
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mitmlab-probe-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the script under the probe; `onReady` gets its pid and starts whatever should compete with it. */
function run(phase: string, prefix: string[] = [], nodeFlags: string[] = [], onReady?: (pid: number) => Promise<void>): Promise<Report> {
  return new Promise((resolve, reject) => {
    const args = [...prefix, process.execPath, ...nodeFlags, '--import', probe, '-e', script, phase];
    const child = spawn(args[0]!, args.slice(1), { env: { ...process.env, BENCH_LOOP_PROBE_OUT: path.join(dir, `${phase}.json`) } });
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.startsWith('ready\n') && onReady) {
        const start = onReady;
        onReady = undefined;
        start(child.pid!).catch(reject);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) reject(new Error(`probe script failed (${code}): ${err || out}`));
      else resolve(JSON.parse(last) as Report);
    });
  });
}

/** Runs a command to its end; rejects when it fails. */
function exec(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

/** Keeps CPU 0 busy for `ms` from a normal-priority process. */
const hog = (ms: number): Promise<void> => exec('taskset', ['-c', '0', process.execPath, '-e', `const e = Date.now() + ${ms}; while (Date.now() < e);`]);

// What the probe relies on: Linux's per-thread scheduler statistics. The starved case also needs CPU 0, and taskset
// and chrt (util-linux), which requireTools insists on in CI.
const schedstat = `/proc/self/task/${process.pid}/schedstat`;
const linuxSchedstat = process.platform === 'linux' && existsSync(schedstat) && waitNsFrom(readFileSync(schedstat, 'latin1')) !== null;
const canStarve = linuxSchedstat && requireTools('taskset', 'chrt') && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
// CI runs on Linux with CPU 0: a machine that lacks either must fail here, not skip the probe's tests unseen.
if (process.env.CI && !canStarve) {
  throw new Error(`the loop probe's tests need Linux scheduler statistics (${schedstat}) and CPU 0 (taskset -c 0)`);
}

describe('waitNsFrom', () => {
  it('reads the run-queue wait from a schedstat line, and refuses the zeros of a kernel without statistics', () => {
    expect(waitNsFrom('1234567 89012 34\n')).toBe(89012);
    expect(waitNsFrom('0 0 0\n')).toBeNull();
    expect(waitNsFrom('garbage')).toBeNull();
  });
});

describe.skipIf(!linuxSchedstat)('bench/probe/loop-delay.mjs', () => {
  it('counts 80 ms of computing on the loop as a block', async () => {
    const r = await run('spin');
    expect(r.bound).toBe('loop-thread');
    expect(r.busyMaxMs).toBeGreaterThan(60);
  });

  it('counts 80 ms asleep in a blocking call as a block, which a CPU-time bound misses', async () => {
    const r = await run('sleep');
    expect(r.busyMaxMs).toBeGreaterThan(60);
    expect(r.processBusyMaxMs).toBeLessThan(r.busyMaxMs - 40);
  });

  it.skipIf(!canStarve)('does not count the time the loop waited for a CPU that another process held', async () => {
    // The script may only use CPU 0. Once it is ready, its threads drop to SCHED_IDLE while a hog runs there, so
    // the loop hardly runs at all; then they get their normal policy back (as root; otherwise they finish idle).
    // --single-threaded keeps V8's helper threads out of it: starved the same way, they would make the loop thread
    // sleep while it waits for them (parallel scavenges, background compiles), and that sleep does count as a block.
    const r = await run('starved', ['taskset', '-c', '0'], ['--single-threaded'], async (pid) => {
      await exec('chrt', ['--idle', '--all-tasks', '--pid', '0', String(pid)]);
      await hog(300);
      await exec('chrt', ['--other', '--all-tasks', '--pid', '0', String(pid)]).catch(() => {});
    });
    expect(r.maxMs).toBeGreaterThan(150);
    expect(r.busyMaxMs).toBeLessThan(30);
  });
});
