import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { getModelRun } from '@elevens/db';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import {
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
  writeMovielensFixture,
} from '@elevens/testkit';
import { describe, it } from 'vitest';
import { type ElevensProcess, spawnElevens } from '../../../tests/support/service-processes';
import { loadDemoConfig } from '../src/commands/demo';

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;
/** The build's event read (`copyBuildEventsOut`): nothing else the demo or evaluate sends to Postgres reads so. */
const BUILD_EVENT_READ = /TO STDOUT \(FORMAT binary\)/;
const TIMED_OUT_LINE =
  /^build \S+ failed: it did not finish within 2s \(BUILD_TIMEOUT\); its connections were closed$/m;

/** The build's writes of its new version (`model:{default}:<version>:…`): the demo's services never send one. */
const MODEL_VERSION_KEY = /model:\{default\}:\d{8}T\d{6}Z/;
const SMALL_SHOP = '--users 50 --items 40 --events 800 --api-port 0 --ingest-port 0'.split(' ');

/**
 * BUILD_STOP_GRACE for the commands whose Postgres stalls for good: both its waits (for the build to stop, for its
 * failure to be recorded) are spent in full, as nothing reaches Postgres, 5 s each at the default
 * (tests/cli-build-outcomes.test.ts asserts it).
 */
const STALLED_POSTGRES_STOP_GRACE = '1s';
/** DEMO_KEY_QUERY_TIMEOUT for the demo whose Postgres stalls for good: its key's revocation waits it out in full. */
const STALLED_POSTGRES_KEY_QUERY_TIMEOUT = '1s';

/**
 * Runs `test` on a database and key prefix of its own, with a proxy of its own to Postgres or Redis: the three
 * stalled commands run side by side (each waits out limits, BUILD_STOP_GRACE and the demo's key query timeout,
 * needing no CPU meanwhile), and no demo's shop or held bytes reach another test's command.
 */
async function withStalledStore(
  label: string,
  store: 'postgres' | 'redis',
  test: (infra: TestInfra, proxy: TcpProxy) => Promise<void>,
) {
  const infra = await createTestInfra(`cli-build-timeout-${label}`);
  try {
    const proxy = await startTcpProxy(store === 'postgres' ? infra.databaseUrl : infra.redisUrl);
    try {
      await test(infra, proxy);
    } finally {
      await proxy.close();
    }
  } finally {
    await infra.close();
  }
}

/**
 * `elevens evaluate --served --ingest` on a small MovieLens file, against an ingest and an api of its own, whose
 * build's event read the Postgres proxy holds (`env` adds to the command's environment); `test` gets the command.
 */
const withEvaluateOnHeldRead = (
  label: string,
  env: Record<string, string>,
  test: (evaluate: ElevensProcess, infra: TestInfra, postgres: TcpProxy) => Promise<void>,
) =>
  withStalledStore(label, 'postgres', async (infra, postgres) => {
    const dir = mkdtempSync(join(tmpdir(), `elevens-${label}-`));
    const ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
    const api = await buildApiApp({ config: loadApiConfig({ ...infra.env, MODEL_POLL_MS: '100' }) });
    let evaluate: ElevensProcess | null = null;
    try {
      const data = join(dir, 'u.data');
      writeMovielensFixture(data, { lines: 600, users: 40, items: 60, seed: 5 });
      const ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });
      const apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
      postgres.hold(BUILD_EVENT_READ);
      // The services write to Postgres directly; the command's own build goes through the proxy.
      evaluate = spawnElevens(
        ['evaluate', '--dataset', 'movielens', '--file', data, '--served', apiUrl, '--ingest', ingestUrl],
        { ...infra.env, DATABASE_URL: postgres.url(infra.databaseUrl), ...env },
      );
      await test(evaluate, infra, postgres);
    } finally {
      postgres.release();
      await evaluate?.kill();
      await Promise.all([ingest.close(), api.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs` with `what`. */
async function until(condition: () => boolean, what: string, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The exit of `started`, or a failure once `timeoutMs` passed without one (a command that hangs). */
async function exitWithin(started: ElevensProcess, timeoutMs: number) {
  // A process a signal ended has no exit code, only its signal.
  await until(
    () => started.child.exitCode !== null || started.child.signalCode !== null,
    'the command to exit',
    timeoutMs,
  );
  return started.exited;
}

describe("DEMO_KEY_QUERY_TIMEOUT: how long a query of the demo's API key may wait for Postgres", () => {
  it('is 5 s unless set, takes a duration, and refuses anything else in one line naming it', ({ expect }) => {
    expect(loadDemoConfig({}).DEMO_KEY_QUERY_TIMEOUT).toBe(5_000);
    expect(loadDemoConfig({ DEMO_KEY_QUERY_TIMEOUT: '1.5s' }).DEMO_KEY_QUERY_TIMEOUT).toBe(1_500);
    expect(() => loadDemoConfig({ DEMO_KEY_QUERY_TIMEOUT: 'soon' })).toThrow(
      'elevens demo: invalid environment: DEMO_KEY_QUERY_TIMEOUT="soon": not a duration: "soon" (use e.g. 500ms, 30s, 15m, 2h, 90d)',
    );
    expect(() => loadDemoConfig({ DEMO_KEY_QUERY_TIMEOUT: '0s' })).toThrow(
      'elevens demo: invalid environment: DEMO_KEY_QUERY_TIMEOUT="0s": must be 1ms or more',
    );
  });
});

// `elevens build` stops a build past BUILD_TIMEOUT; the builds the demo and evaluate run once stalled for good.
describe.concurrent('the builds of demo and evaluate under BUILD_TIMEOUT', () => {
  it('demo: a build whose model writes stall fails in one line naming the limit, exits 1, revokes its key', ({
    expect,
  }) =>
    withStalledStore('demo-redis', 'redis', async (infra, redis) => {
      redis.hold(MODEL_VERSION_KEY);
      const demo = spawnElevens(['demo', '--once', ...SMALL_SHOP], {
        ...infra.env,
        REDIS_URL: redis.url(infra.redisUrl),
        BUILD_TIMEOUT: '2s',
      });
      try {
        const { code } = await exitWithin(demo, 45_000);
        const stderr = demo.stderr();
        expect(code, demo.output()).toBe(1);
        expect(stderr).not.toMatch(STACK_FRAME);
        expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(TIMED_OUT_LINE)]);
        expect(demo.output()).not.toContain('built model');
        const version = /^build (\S+) failed/.exec(stderr)![1]!;
        expect(await getModelRun(infra.pool, version)).toMatchObject({
          status: 'failed',
          error: 'it did not finish within 2s (BUILD_TIMEOUT); its connections were closed',
        });
        const keyId = /created API key (key_\w+)/.exec(demo.output())![1]!;
        const { rows } = await infra.pool.query<{ revoked: boolean }>(
          'SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = $1',
          [keyId],
        );
        expect(rows).toEqual([{ revoked: true }]);
      } finally {
        await demo.kill();
      }
    }));

  it('demo: with Postgres stalled for good, says its key stayed unrevoked beside the build failure', ({
    expect,
  }) =>
    withStalledStore('demo-postgres', 'postgres', async (infra, postgres) => {
      postgres.hold(BUILD_EVENT_READ);
      let held = false;
      void postgres.whenHeld(BUILD_EVENT_READ).then(() => {
        held = true;
      });
      const demo = spawnElevens(['demo', '--once', ...SMALL_SHOP], {
        ...infra.env,
        DATABASE_URL: postgres.url(infra.databaseUrl),
        BUILD_TIMEOUT: '2s',
        BUILD_STOP_GRACE: STALLED_POSTGRES_STOP_GRACE,
        DEMO_KEY_QUERY_TIMEOUT: STALLED_POSTGRES_KEY_QUERY_TIMEOUT,
      });
      try {
        const { code } = await exitWithin(demo, 45_000);
        const stderr = demo.stderr();
        // Postgres stalled at the build's read, not a build merely slower than the limit.
        expect(held, demo.output()).toBe(true);
        expect(code, demo.output()).toBe(1);
        expect(stderr).not.toMatch(STACK_FRAME);
        const keyId = /created API key (key_\w+)/.exec(demo.output())![1]!;
        expect(stderr.trim().split('\n'), demo.output()).toEqual([
          expect.stringMatching(
            new RegExp(
              `^elevens demo: could not revoke its API key ${keyId} \\(.+\\): run elevens keys revoke ${keyId}$`,
            ),
          ),
          expect.stringMatching(TIMED_OUT_LINE),
        ]);
      } finally {
        await demo.kill();
      }
    }));

  it('evaluate --served --ingest: a build whose event read stalls fails in one line and exits 1', ({
    expect,
  }) =>
    withEvaluateOnHeldRead(
      'evaluate',
      { BUILD_TIMEOUT: '2s', BUILD_STOP_GRACE: STALLED_POSTGRES_STOP_GRACE },
      async (evaluate) => {
        const { code } = await exitWithin(evaluate, 45_000);
        const stderr = evaluate.stderr();
        expect(code, evaluate.output()).toBe(1);
        expect(stderr).not.toMatch(STACK_FRAME);
        expect(stderr.trim().split('\n').at(-1)).toMatch(TIMED_OUT_LINE);
        expect(stderr).not.toContain('waiting for the api to serve it');
      },
    ));

  it('evaluate --served --ingest: a SIGTERM during its build records the run interrupted and exits 143', ({
    expect,
  }) =>
    withEvaluateOnHeldRead('evaluate-interrupt', {}, async (evaluate, infra, postgres) => {
      // The build has started, its signal handler with it, once its event read is held.
      await postgres.whenHeld(BUILD_EVENT_READ);
      evaluate.child.kill('SIGTERM');
      postgres.release();
      const { code } = await exitWithin(evaluate, 45_000);
      const stderr = evaluate.stderr();
      expect(code, evaluate.output()).toBe(143);
      expect(stderr).not.toMatch(STACK_FRAME);
      const version = /^build (\S+) failed: interrupted by SIGTERM$/.exec(
        stderr.trim().split('\n').at(-1)!,
      )?.[1];
      expect(version, stderr).toBeDefined();
      expect(await getModelRun(infra.pool, version!)).toMatchObject({
        status: 'failed',
        error: 'interrupted by SIGTERM',
      });
      expect(stderr).not.toContain('waiting for the api to serve it');
    }));
});
