// External tools the tests use as real peers and oracles. In CI (CI=1) a missing tool fails the test; elsewhere it
// is skipped with a printed reason (DESIGN.md §5).

import { execFileSync } from 'node:child_process';

const cache = new Map<string, boolean>();

/** True when `tool` is on PATH. */
export function hasTool(tool: string): boolean {
  let found = cache.get(tool);
  if (found === undefined) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      found = true;
    } catch {
      found = false;
    }
    cache.set(tool, found);
  }
  return found;
}

/**
 * Whether a test needing `tools` should run. Throws in CI when one is missing (so the suite goes red);
 * outside CI prints why and returns false (use with `it.skipIf(!requireTools(...))`).
 */
export function requireTools(...tools: string[]): boolean {
  const missing = tools.filter((tool) => !hasTool(tool));
  if (missing.length === 0) return true;
  if (process.env.CI) throw new Error(`required tool(s) missing in CI: ${missing.join(', ')} — .ci/run must install them`);
  console.warn(`skipping: ${missing.join(', ')} not installed`);
  return false;
}
