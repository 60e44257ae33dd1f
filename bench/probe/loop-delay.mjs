// Preloaded with `node --import` into a Node proxy under test (mitmlab, http-mitm-proxy) to measure how long its
// event loop stays blocked, from inside, without touching its code. Inactive unless BENCH_LOOP_PROBE_OUT is set.
// On SIGUSR2 it writes what it saw since the previous signal to that file (atomically) and starts afresh.
//
// A timer ticks every 5 ms; a late tick means the loop was busy or the process was not running at all. On a
// shared 2-core machine the second is common, so each delay is also bounded by the CPU time the process used
// during it (process.cpuUsage, all threads): `busyMaxMs` is a block the process caused itself, `maxMs` the raw
// lateness, as monitorEventLoopDelay would report it.

import { renameSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_LOOP_PROBE_OUT;
if (out) {
  const INTERVAL_MS = 5;
  let seq = 0;
  let maxMs = 0;
  let busyMaxMs = 0;
  let samples = 0;
  let sum = 0;
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const late = Math.max(0, now - last - INTERVAL_MS);
    const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    maxMs = Math.max(maxMs, late);
    busyMaxMs = Math.max(busyMaxMs, Math.min(late, cpuMs));
    samples += 1;
    sum += late;
    last = now;
    lastCpu = cpu;
  }, INTERVAL_MS).unref();
  process.on('SIGUSR2', () => {
    seq += 1;
    const report = { seq, maxMs, busyMaxMs, meanMs: samples ? sum / samples : 0, samples };
    writeFileSync(`${out}.tmp`, JSON.stringify(report));
    renameSync(`${out}.tmp`, out);
    maxMs = 0;
    busyMaxMs = 0;
    samples = 0;
    sum = 0;
  });
}
