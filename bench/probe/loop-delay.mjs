// Preloaded with `node --import` into a Node proxy under test (mitmlab, http-mitm-proxy) to measure how long its
// event loop stays blocked, from inside, without touching its code. Inactive unless BENCH_LOOP_PROBE_OUT is set.
// On SIGUSR2 it writes what it saw since the previous signal to that file (atomically) and starts afresh.
//
// A timer ticks every 5 ms; a late tick means the loop's thread was busy, or it was not running at all. On a shared
// 2-core machine the second is common, so it reports three figures:
// - `busyMaxMs`: the lateness minus the time the loop's own thread spent runnable but waiting for a CPU. What is
//   left is time the loop's thread itself ran, or slept in a blocking call: a block the event loop caused itself.
//   Linux gives both per thread, in nanoseconds, in the first two fields of /proc/<pid>/task/<tid>/schedstat (time
//   on a CPU, time waiting on a run queue: Documentation/scheduler/sched-stats.rst); the main thread's tid is the
//   pid. Where that file is missing, the bound falls back to the process-wide figure below.
// - `processBusyMaxMs`: bounded by the CPU time of the whole process (process.cpuUsage, all threads). That also
//   counts work done off the loop meanwhile: libuv's pool signing certificates, V8's GC and compiler threads.
// - `maxMs`: the raw lateness, as monitorEventLoopDelay would report it.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_LOOP_PROBE_OUT;

/**
 * The wait field of a schedstat line (nanoseconds runnable but not running), or null when it cannot be trusted: a
 * kernel without scheduler statistics shows zeros, and a thread that reads this has run for more than 0 ns.
 */
export function waitNsFrom(schedstat) {
  const [runNs, waitNs] = String(schedstat).trim().split(/\s+/).map(Number);
  return runNs > 0 && Number.isFinite(waitNs) ? waitNs : null;
}

/** Nanoseconds the main thread has waited for a CPU while runnable, or null where Linux's schedstat is missing. */
function loopThreadWaitNs() {
  try {
    return waitNsFrom(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'latin1'));
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
  let lastWaitNs = loopThreadWaitNs();
  let carriedWaitMs = 0;
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const waitNs = lastWaitNs === null ? null : loopThreadWaitNs();
    const late = Math.max(0, now - last - INTERVAL_MS);
    const processCpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    maxMs = Math.max(maxMs, late);
    let busy = Math.min(late, processCpuMs);
    if (waitNs !== null && lastWaitNs !== null) {
      // The clock and schedstat are read a moment apart, and the thread can be preempted in between: a wait can then
      // land in the tick before the one whose lateness it caused. A wait longer than its tick's whole interval can
      // only be that, so the excess is carried to the next tick.
      const waitMs = (waitNs - lastWaitNs) / 1e6 + carriedWaitMs;
      carriedWaitMs = Math.max(0, waitMs - (now - last));
      busy = Math.max(0, late - waitMs);
    }
    busyMaxMs = Math.max(busyMaxMs, busy);
    processBusyMaxMs = Math.max(processBusyMaxMs, Math.min(late, processCpuMs));
    samples += 1;
    sum += late;
    last = now;
    lastCpu = cpu;
    lastWaitNs = waitNs;
  }, INTERVAL_MS).unref();
  process.on('SIGUSR2', () => {
    seq += 1;
    const bound = lastWaitNs === null ? 'process' : 'loop-thread';
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
