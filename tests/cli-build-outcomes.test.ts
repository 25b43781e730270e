import { setTimeout as sleep } from 'node:timers/promises';
import { getModelRun, holdModelLine, insertEvents } from '@elevens/db';
import type { EventType, StoredEvent } from '@elevens/domain';
import { createKeys } from '@elevens/redis-stores';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { loadBuildConfig } from '@elevens/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ElevensProcess, runElevens, spawnElevens } from './support/service-processes';

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;
/** What the bin prints first when it runs the sources: not the command's own output. */
const SOURCE_NOTICE = /^elevens: no compiled CLI.*\n/m;

const HOUR = 3_600_000;
const NEWEST = Date.UTC(2026, 10, 11, 12);
const USERS = 160;

/**
 * Eight taste clusters of eight items: each user views 4 items of their cluster, then buys a fifth, in an order of
 * their own. Neighbours of the viewed items find the purchase, popularity alone mostly does not: a model without
 * neighbours (`--min-support 1000`) is far worse, and the quality gate refuses it (as in the trainer's gate test).
 */
function clusteredEvents(): StoredEvent[] {
  const events: StoredEvent[] = [];
  const event = (userId: string, itemId: string, type: EventType, timestampMs: number): StoredEvent => ({
    eventId: `${userId}:${itemId}:${type}`,
    userId,
    itemId,
    type,
    timestampMs,
    sessionId: null,
    recommendationId: null,
    quantity: null,
    price: null,
    properties: null,
  });
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  for (let u = 0; u < USERS; u++) {
    const cluster = u % 8;
    const items = Array.from({ length: 8 }, (_, j) => `c${cluster}-i${j}`);
    for (let j = items.length - 1; j > 0; j--) {
      const k = Math.floor(random() * (j + 1));
      [items[j], items[k]] = [items[k]!, items[j]!];
    }
    const start = NEWEST - (u % 48) * HOUR - 5 * HOUR;
    for (let j = 0; j < 4; j++) events.push(event(`u${u}`, items[j]!, 'view', start + j * HOUR));
    events.push(event(`u${u}`, items[4]!, 'purchase', start + 4 * HOUR));
  }
  return events;
}

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('cli-build-outcomes');
  await insertEvents(infra.pool, clusteredEvents());
});

afterAll(async () => {
  await infra?.close();
});

/** What the command wrote to stderr, without the bin's notice, as lines. */
const stderrLines = (stderr: string) => stderr.replace(SOURCE_NOTICE, '').trim().split('\n');

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs` with `what`. */
async function until(condition: () => boolean, what: string, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Whether `started` exited, or was ended by a signal. */
const ended = (started: ElevensProcess) =>
  started.child.exitCode !== null || started.child.signalCode !== null;

/** The exit of `started`, or a failure once `timeoutMs` passed without one (a build that hangs). */
async function exitWithin(started: ElevensProcess, timeoutMs: number) {
  await until(() => ended(started), 'the build to exit', timeoutMs);
  return started.exited;
}

// The two suites run side by side ({ concurrent: true }): the stalled builds of the second wait out limits
// (BUILD_TIMEOUT, BUILD_STOP_GRACE) and need no CPU meanwhile. The first suite's tests run in order
// (it.sequential): each build is gated against the model the one before served.
describe('elevens build: what a cron job or CI sees', { concurrent: true }, () => {
  it.sequential('exits 0 when the model is published', async () => {
    const { code, stdout, stderr } = await runElevens(['build'], infra.env);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^published model \S+ /m);
  });

  it.sequential('exits 2 when the quality gate refuses the model, printing the gate’s reason', async () => {
    const { code, stdout, stderr } = await runElevens(['build', '--min-support', '1000'], infra.env);
    expect(code, stdout + stderr).toBe(2);
    const line = stdout.split('\n').find((l) => l.startsWith('rejected model '));
    expect(line, stdout).toBeDefined();
    expect(line).toContain('more than 10% below');
    expect(line).toContain('--force');
  });

  it.sequential('exits 1 when the build fails, with one line naming the build and the cause, no stack trace', async () => {
    // The line's bookkeeping of publishes holding a key of the wrong type: the build fails in Redis.
    const publishing = `${infra.keyPrefix}model:{default}:publishing`;
    await infra.redis.set(publishing, 'not a sorted set');
    try {
      const { code, stderr } = await runElevens(['build'], infra.env);
      expect(code).toBe(1);
      expect(stderr).not.toMatch(STACK_FRAME);
      const lines = stderrLines(stderr);
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^build \d{8}T\d{6}Z-[0-9a-f]{6} failed: .*WRONGTYPE/);
    } finally {
      await infra.redis.del(publishing);
    }
  });

  it.sequential('with --every, prints a rejected build’s reason and goes on', async () => {
    const build = spawnElevens(['build', '--every', '1s', '--min-support', '1000'], infra.env);
    try {
      const rejected = () => build.output().match(/^rejected model .*more than 10% below/gm) ?? [];
      await until(() => rejected().length >= 2 || build.child.exitCode !== null, 'two rejected builds');
      expect(build.child.exitCode, build.output()).toBeNull();
    } finally {
      await build.kill();
    }
  });
});

/**
 * Runs `test` with a proxy of its own to `target`, closed afterwards: the stalled builds run side by side, and
 * what one proxy holds never reaches another test's build.
 */
async function withProxy(target: string, test: (proxy: TcpProxy) => Promise<void>) {
  const proxy = await startTcpProxy(target);
  try {
    await test(proxy);
  } finally {
    await proxy.close();
  }
}

/**
 * Environment for the stalled builds: a key prefix of their own (within this file's) for each test, so that the
 * model the last one publishes is not the served model the first suite's quality gate compares with, and the
 * builds side by side are of different lines (one build of a line runs at a time).
 */
const stalledBuildEnv = (test: string) => ({ ...infra.env, REDIS_KEY_PREFIX: `${infra.keyPrefix}${test}:` });

/**
 * BUILD_STOP_GRACE for the builds whose Postgres stalls for good: both its waits (for the build to stop, for its
 * failure to be recorded) are spent in full, as nothing reaches Postgres, 5 s each at the default.
 */
const STALLED_POSTGRES_STOP_GRACE = '1s';

describe('elevens build with a store that stops answering (BUILD_TIMEOUT)', { concurrent: true }, () => {
  it('gives a build past the limit 5 s to stop and 5 s to record its failure, unless BUILD_STOP_GRACE says', ({
    expect,
  }) => {
    expect(loadBuildConfig({}).BUILD_STOP_GRACE).toBe(5_000);
    expect(loadBuildConfig({ BUILD_STOP_GRACE: STALLED_POSTGRES_STOP_GRACE }).BUILD_STOP_GRACE).toBe(1_000);
  });

  it('fails a build whose event read stalls, in one line naming the limit, and exits 1', ({ expect }) =>
    withProxy(infra.databaseUrl, async (postgres) => {
      // Postgres takes every byte up to the events' COPY, then holds it and everything after.
      postgres.hold(/COPY/);
      const build = spawnElevens(['build'], {
        ...stalledBuildEnv('stalled-read'),
        DATABASE_URL: postgres.url(infra.databaseUrl),
        BUILD_TIMEOUT: '2s',
        BUILD_STOP_GRACE: STALLED_POSTGRES_STOP_GRACE,
      });
      try {
        const { code } = await exitWithin(build, 30_000);
        const stderr = build.stderr();
        expect(code, stderr).toBe(1);
        expect(stderr).not.toMatch(STACK_FRAME);
        const lines = stderrLines(stderr);
        expect(lines, stderr).toHaveLength(1);
        expect(lines[0]).toMatch(
          /^build \S+ failed: it did not finish within 2s \(BUILD_TIMEOUT\); its connections were closed$/,
        );
      } finally {
        await build.kill();
      }
    }));

  it('records a build whose Redis writes stall as failed for the time limit', ({ expect }) =>
    withProxy(infra.redisUrl, async (redis) => {
      // Redis answers the start-up check, then holds the first command naming a model key.
      redis.hold(/model:/);
      const build = spawnElevens(['build'], {
        ...stalledBuildEnv('stalled-redis'),
        REDIS_URL: redis.url(infra.redisUrl),
        BUILD_TIMEOUT: '2s',
      });
      try {
        const { code } = await exitWithin(build, 30_000);
        const stderr = build.stderr();
        expect(code, stderr).toBe(1);
        const line = stderrLines(stderr)[0]!;
        const version = /^build (\S+) failed: it did not finish within 2s/.exec(line)?.[1];
        expect(version, stderr).toBeDefined();
        const run = await getModelRun(infra.pool, version!);
        expect(run).toMatchObject({
          status: 'failed',
          error: 'it did not finish within 2s (BUILD_TIMEOUT); its connections were closed',
        });
      } finally {
        await build.kill();
      }
    }));

  it('with --every, a build past the limit is logged and the next one runs on new connections', ({
    expect,
  }) =>
    withProxy(infra.databaseUrl, async (postgres) => {
      postgres.hold(/COPY/);
      const build = spawnElevens(['build', '--every', '1s'], {
        ...stalledBuildEnv('stalled-every'),
        DATABASE_URL: postgres.url(infra.databaseUrl),
        BUILD_TIMEOUT: '2s',
        BUILD_STOP_GRACE: STALLED_POSTGRES_STOP_GRACE,
      });
      try {
        await until(
          () => build.output().includes('did not finish within 2s') || build.child.exitCode !== null,
          'the first build to time out',
        );
        postgres.release();
        await until(
          () => /^published model /m.test(build.output()) || build.child.exitCode !== null,
          'a later build to publish',
        );
        expect(build.child.exitCode, build.output()).toBeNull();
      } finally {
        postgres.release();
        await build.kill();
      }
    }));
});

/** The build's first write of its new version's neighbour lists: its publish is under way. */
const NEIGHBOURS_WRITE = /hset\r\n\$\d+\r\n\S*model:\{default\}:\d{8}T\d{6}Z-[0-9a-f]{6}:neighbors/i;
/** What `elevens build` logs (non-TTY) once it took a signal. */
const STOPPING = /"msg":"stopping: /;

/**
 * Sends `signal` to `build` and waits until it logged taking it: what the test releases afterwards reaches a build
 * that knows it was interrupted.
 */
async function interrupt(build: ElevensProcess, signal: NodeJS.Signals) {
  build.child.kill(signal);
  await until(() => STOPPING.test(build.output()) || ended(build), `${signal} to be taken`);
}

/** A failed build's lines on stderr, and the version and cause the first names. */
function failure(stderr: string) {
  const lines = stderrLines(stderr);
  const [, version, why] = /^build (\S+) failed: (.*)$/.exec(lines[0]!) ?? [];
  return { lines: lines.length, version: version!, why };
}

// Side by side with the suites above: each test has a key prefix of its own, so its line is its own.
describe('elevens build stopped by a signal (Ctrl-C, a deploy)', { concurrent: true }, () => {
  it('SIGTERM mid-publish: exits 143 in one line, records the run failed, keeps the served model, frees the line', ({
    expect,
  }) => {
    const env = { ...infra.env, REDIS_KEY_PREFIX: `${infra.keyPrefix}interrupted:` };
    const keys = createKeys(env.REDIS_KEY_PREFIX);
    return withProxy(infra.redisUrl, async (redis) => {
      const served = await runElevens(['build'], env);
      expect(served.code, served.stdout + served.stderr).toBe(0);
      const servedVersion = /^published model (\S+) /m.exec(served.stdout)?.[1];
      redis.hold(NEIGHBOURS_WRITE);
      const build = spawnElevens(['build'], { ...env, REDIS_URL: redis.url(infra.redisUrl) });
      try {
        await redis.whenHeld(NEIGHBOURS_WRITE);
        await interrupt(build, 'SIGTERM');
        redis.release();
        const { code } = await exitWithin(build, 30_000);
        expect(code, build.output()).toBe(143);
        expect(build.stderr()).not.toMatch(STACK_FRAME);
        const { lines, version, why } = failure(build.stderr());
        expect({ lines, why }, build.stderr()).toEqual({ lines: 1, why: 'interrupted by SIGTERM' });
        expect(await getModelRun(infra.pool, version)).toMatchObject({
          status: 'failed',
          error: 'interrupted by SIGTERM',
        });
        expect(await infra.redis.get(keys.modelCurrent())).toBe(servedVersion);
        expect(await infra.redis.exists(...keys.modelVersionKeys(version))).toBe(0);
      } finally {
        redis.release();
        await build.kill();
      }
      const next = await runElevens(['build'], env);
      expect(next.code, next.stdout + next.stderr).toBe(0);
      expect(next.stdout).toMatch(/^published model \S+ \(line default,/m);
    });
  });

  it('with --every, a deploy’s SIGTERM to a build stalled in a store: cut off after BUILD_STOP_GRACE, the loop ends with 143', ({
    expect,
  }) =>
    withProxy(infra.redisUrl, async (redis) => {
      // Redis answers the start-up check, then holds the build's first model command: no check is reached.
      redis.hold(/model:/);
      const build = spawnElevens(['build', '--every', '1s'], {
        ...infra.env,
        REDIS_KEY_PREFIX: `${infra.keyPrefix}interrupted-stalled:`,
        REDIS_URL: redis.url(infra.redisUrl),
        BUILD_STOP_GRACE: '500ms',
      });
      try {
        await redis.whenHeld(/model:/);
        await interrupt(build, 'SIGTERM');
        const { code } = await exitWithin(build, 30_000);
        expect(code, build.output()).toBe(143);
        const why =
          'interrupted by SIGTERM, and it did not stop within 500ms (BUILD_STOP_GRACE); its connections were closed';
        const stopped = failure(build.stderr());
        expect(stopped, build.stderr()).toMatchObject({ lines: 1, why });
        expect(await getModelRun(infra.pool, stopped.version)).toMatchObject({
          status: 'failed',
          error: why,
        });
      } finally {
        await build.kill();
      }
    }));

  it('a second Ctrl-C cuts the build off at once, and it exits 130', ({ expect }) =>
    withProxy(infra.redisUrl, async (redis) => {
      redis.hold(/model:/);
      const build = spawnElevens(['build'], {
        ...infra.env,
        REDIS_KEY_PREFIX: `${infra.keyPrefix}interrupted-twice:`,
        REDIS_URL: redis.url(infra.redisUrl),
      });
      try {
        await redis.whenHeld(/model:/);
        await interrupt(build, 'SIGINT');
        build.child.kill('SIGINT');
        // Well within BUILD_STOP_GRACE (5 s): the second signal, not the grace, ended it.
        const { code } = await exitWithin(build, 4_000);
        expect(code, build.output()).toBe(130);
        const why = 'interrupted by SIGINT, then SIGINT; its connections were closed';
        const stopped = failure(build.stderr());
        expect(stopped, build.stderr()).toMatchObject({ lines: 1, why });
        expect(await getModelRun(infra.pool, stopped.version)).toMatchObject({
          status: 'failed',
          error: why,
        });
      } finally {
        await build.kill();
      }
    }));

  it('with --every, a signal between builds ends the loop at once, with 143', async ({ expect }) => {
    const build = spawnElevens(['build', '--every', '1h'], {
      ...infra.env,
      REDIS_KEY_PREFIX: `${infra.keyPrefix}interrupted-waiting:`,
    });
    try {
      await until(
        () => /^published model /m.test(build.output()) || build.child.exitCode !== null,
        'the first build to publish',
      );
      await interrupt(build, 'SIGTERM');
      const { code } = await exitWithin(build, 4_000);
      expect(code, build.output()).toBe(143);
    } finally {
      await build.kill();
    }
  });
});

/** Waits until no build holds the line `line` (its Redis key); fails after 45 s. */
async function untilLineFree(line: string) {
  const deadline = Date.now() + 45_000;
  for (;;) {
    const hold = await holdModelLine(infra.pool, line);
    if (hold !== null) return hold.release();
    if (Date.now() > deadline) throw new Error(`timed out waiting for line ${line} to be free`);
    await sleep(50);
  }
}

describe('elevens build while another build of the line runs', () => {
  it('exits 3 in one line, lets other lines build, and the line is free again once that build is killed', async () => {
    const env = { ...infra.env, REDIS_KEY_PREFIX: `${infra.keyPrefix}exclusive:` };
    await withProxy(infra.redisUrl, async (redis) => {
      // The first build takes the line, then stalls at its first model key: a build under way.
      redis.hold(/model:/);
      const running = spawnElevens(['build'], { ...env, REDIS_URL: redis.url(infra.redisUrl) });
      try {
        await redis.whenHeld(/model:/);
        const second = await runElevens(['build'], env);
        expect(second.code, second.stdout + second.stderr).toBe(3);
        expect(second.stdout).not.toMatch(/published model/);
        expect(stderrLines(second.stderr)).toEqual([
          'another build of model line default is running (elevens model list shows its run): this build did not start',
        ]);
        const otherLine = await runElevens(['build', '--model', 'other'], env);
        expect(otherLine.code, otherLine.stdout + otherLine.stderr).toBe(0);
        expect(otherLine.stdout).toMatch(/^published model \S+ \(line other,/m);
      } finally {
        await running.kill('SIGKILL');
      }
    });
    // Killed mid-run, the build's Postgres session ends, and its hold on the line with it.
    await untilLineFree(createKeys(env.REDIS_KEY_PREFIX).modelCurrent('default'));
    const next = await runElevens(['build'], env);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(next.stdout).toMatch(/^published model \S+ \(line default,/m);
  });

  it('with --every, a round whose line another build holds is logged and skipped, and the loop goes on', async () => {
    const env = { ...infra.env, REDIS_KEY_PREFIX: `${infra.keyPrefix}exclusive-every:` };
    const other = await holdModelLine(infra.pool, createKeys(env.REDIS_KEY_PREFIX).modelCurrent('default'));
    expect(other).not.toBeNull();
    let otherReleased = false;
    const build = spawnElevens(['build', '--every', '1s'], env);
    try {
      await until(
        () =>
          build.output().includes('another build of model line default is running') ||
          build.child.exitCode !== null,
        'a round to be skipped',
      );
      expect(build.child.exitCode, build.output()).toBeNull();
      otherReleased = true;
      await other!.release();
      await until(
        () => /^published model /m.test(build.output()) || build.child.exitCode !== null,
        'a later round to publish',
      );
      expect(build.child.exitCode, build.output()).toBeNull();
    } finally {
      if (!otherReleased) await other!.release();
      await build.kill();
    }
  });
});
