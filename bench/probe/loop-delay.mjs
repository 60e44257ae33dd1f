// Preloaded with `node --import` into a Node proxy under test (mitmlab, http-mitm-proxy) to measure how long its
// event loop stays blocked, from inside, without touching its code. Inactive unless BENCH_LOOP_PROBE_OUT is set.
// On SIGUSR2 it writes the delay histogram since the previous signal to that file (atomically) and starts afresh.

import { renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const out = process.env.BENCH_LOOP_PROBE_OUT;
if (out) {
  // 5 ms resolution: fine enough to see a 20 ms block, coarse enough not to load the proxy with timers.
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  let seq = 0;
  process.on('SIGUSR2', () => {
    seq += 1;
    const ms = (ns) => ns / 1e6;
    const report = { seq, maxMs: ms(histogram.max), p99Ms: ms(histogram.percentile(99)), meanMs: ms(histogram.mean), samples: histogram.count };
    writeFileSync(`${out}.tmp`, JSON.stringify(report));
    renameSync(`${out}.tmp`, out);
    histogram.reset();
  });
}
