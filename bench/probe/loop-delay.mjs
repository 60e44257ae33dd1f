// Preloaded with `node --import` into a Node proxy under test (mitmlab, http-mitm-proxy) to measure how long its
// event loop stays blocked, from inside, without touching its code. Inactive unless BENCH_LOOP_PROBE_OUT is set.
// On SIGUSR2 it writes what it saw since the previous signal to that file (atomically) and starts afresh.
//
// A timer ticks every 5 ms; a late tick means the loop's thread was busy, or it was not running at all. On a shared
// 2-core machine the second is common, so each delay is also bounded by CPU time:
// - `busyMaxMs`: bounded by the time the loop's own thread spent on a CPU meanwhile. That is a block the event loop
//   caused itself. Linux reports a thread's on-CPU time in nanoseconds in the first field of
//   /proc/<pid>/task/<tid>/schedstat (Documentation/scheduler/sched-stats.rst), and the main thread's tid is the pid.
//   Where that file is missing, it falls back to the process-wide figure below.
// - `processBusyMaxMs`: bounded by the CPU time of the whole process (process.cpuUsage, all threads). That also
//   counts work done off the loop meanwhile: libuv's pool signing certificates, V8's GC and compiler threads.
// - `maxMs`: the raw lateness, as monitorEventLoopDelay would report it.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_LOOP_PROBE_OUT;

/** Nanoseconds the main thread has spent on a CPU, or null where Linux's schedstat is not available. */
function loopThreadCpuNs() {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'latin1').split(' ')[0]);
  } catch {
    return null;
  }
}

if (out) {
  const INTERVAL_MS = 5;
  let seq = 0;
  let maxMs = 0;
  let busyMaxMs = 0;
  let processBusyMaxMs = 0;
  let samples = 0;
  let sum = 0;
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let lastLoopNs = loopThreadCpuNs();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const loopNs = lastLoopNs === null ? null : loopThreadCpuNs();
    const late = Math.max(0, now - last - INTERVAL_MS);
    const processCpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    const loopCpuMs = loopNs === null || lastLoopNs === null ? processCpuMs : (loopNs - lastLoopNs) / 1e6;
    maxMs = Math.max(maxMs, late);
    busyMaxMs = Math.max(busyMaxMs, Math.min(late, loopCpuMs));
    processBusyMaxMs = Math.max(processBusyMaxMs, Math.min(late, processCpuMs));
    samples += 1;
    sum += late;
    last = now;
    lastCpu = cpu;
    lastLoopNs = loopNs;
  }, INTERVAL_MS).unref();
  process.on('SIGUSR2', () => {
    seq += 1;
    const bound = lastLoopNs === null ? 'process' : 'loop-thread';
    const report = { seq, maxMs, busyMaxMs, processBusyMaxMs, bound, meanMs: samples ? sum / samples : 0, samples };
    writeFileSync(`${out}.tmp`, JSON.stringify(report));
    renameSync(`${out}.tmp`, out);
    maxMs = 0;
    busyMaxMs = 0;
    processBusyMaxMs = 0;
    samples = 0;
    sum = 0;
  });
}
