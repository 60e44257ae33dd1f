import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real servers and clients; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits for what a real process or browser does next: 1 s (the default) is short on a loaded machine.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    // Tests that need Debian tools fail in CI when the tool is missing (see test/helpers/tools.ts).
    env: { MITMLAB_TEST: '1' },
  },
});
