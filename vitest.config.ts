import { availableParallelism } from 'node:os';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages export their compiled dist/ by default and their TypeScript sources under this condition:
// the tests always run the sources, never a dist/ that is missing or older than them.
const SOURCE_CONDITION = '@elevens/source';

export default defineConfig({
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'tests/**/*.test.ts'],
    // The global setup builds dist/ first (incremental), so the processes the tests start (the elevens bin, as
    // the images run it) load the compiled packages, built from these same sources: in seconds fewer per process
    // than compiling them through tsx.
    globalSetup: ['tests/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Closing after the run (workers, global teardown) may take this long before Vitest exits anyway.
    teardownTimeout: 10_000,
    // Vitest bounds tests and hooks but not the import of a test file: the watchdog bounds each file as a whole.
    reporters: ['default', ['./tests/support/file-watchdog.ts', { fileTimeLimitMs: 180_000 }]],
    pool: 'forks',
    // A worker runs its files one after another in one module graph instead of a fresh process each: importing
    // the packages (Fastify, zod's schemas, the stores) took a third of a run on 2 cores. Each file still has its
    // own database, key prefix, ports and apps, and no module holds state between files but caches (one registry
    // per app's metrics); the suite passes in a shuffled file order too (--sequence.shuffle.files).
    isolate: false,
    // Vitest's default on 2 cores is one file at a time; the files are isolated (own database, key prefix and
    // ports) and mostly wait on Postgres, Redis and child processes, so two at a time finish sooner.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
