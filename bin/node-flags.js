// The V8 flags the mitmlab process runs with. V8 reads them once, when it sets up the heap, so they go on node's own
// command line: bin/mitmlab.js's first line (the `mitmlab` command), package.json's `start` script (`npm start`), the
// script recipe in the README, the bench and the tests' CLI processes. test/integration/cli-node-flags.test.ts checks
// that each of them carries exactly these.
//
// --initial-old-space-size=64: a download through mitmlab has a small heap (about 10 MB live) and a young generation
// that has grown to its 16 MB cap. V8 starts incremental marking once the old generation's room under its limit is
// smaller than the young generation, and with a small heap its limit (the live size times a growing factor) leaves
// less room than that right after every full GC. So a 1 GiB download ran about 130 mark-compacts, one every 40-70 ms,
// and the GC threads used 3 s of CPU on top of the main thread's 7 (measured with --trace-gc and /proc/PID/task
// times). With a 64 MB floor under the limit the same download runs one or none, and the proxy's CPU per GB drops by
// a third (README, Performance). The heap still grows only as far as live data needs; the floor is where full GCs
// start, not memory taken.
export const NODE_FLAGS = Object.freeze(['--initial-old-space-size=64']);
