import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'tests/**/*.test.ts'],
    globalSetup: ['tests/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Closing after the run (workers, global teardown) may take this long before Vitest exits anyway.
    teardownTimeout: 10_000,
    // Vitest bounds tests and hooks but not the import of a test file: the watchdog bounds each file as a whole.
    reporters: ['default', ['./tests/support/file-watchdog.ts', { fileTimeLimitMs: 180_000 }]],
    pool: 'forks',
  },
});
