import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runElevens, spawnElevens } from './support/service-processes';

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;
/** What the bin prints first when it runs the sources: not the command's own output. */
const SOURCE_NOTICE = /^elevens: no compiled CLI.*\n/m;
const UNREACHABLE_POSTGRES = 'postgres://root@127.0.0.1:1/elevens';
const UNREACHABLE_REDIS = 'redis://127.0.0.1:1';

let infra: TestInfra;
let dir: string;

beforeAll(async () => {
  infra = await createTestInfra('cli-operator-tools');
  dir = mkdtempSync(join(tmpdir(), 'elevens-cli-tools-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra?.close();
});

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs` with `what`. */
async function until(condition: () => boolean, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// Each suite runs beside the others: only the rollback after the build loop reads what another command stored,
// and it runs after it, in the same suite.
describe.concurrent('elevens build --every', () => {
  it.sequential('logs a failed first build and goes on with the next one, as a failed later build', async ({
    expect,
  }) => {
    // The publish step's bookkeeping key of the wrong type: the first build fails while publishing.
    const publishing = `${infra.keyPrefix}model:{default}:publishing`;
    await infra.redis.set(publishing, 'not a sorted set');
    const build = spawnElevens(['build', '--every', '1s'], { ...infra.env, LOG_LEVEL: 'info' });
    try {
      await until(
        () => build.output().includes('build failed') || build.child.exitCode !== null,
        'the first build to fail',
      );
      await infra.redis.del(publishing);
      await until(
        () => /^published model /m.test(build.output()) || build.child.exitCode !== null,
        'a later build to publish',
      );
      expect(build.output()).toMatch(/^published model /m);
      expect(build.child.exitCode, build.output()).toBeNull();
    } finally {
      await build.kill();
    }
  });

  it.sequential('model rollback needs no Postgres: it answers from Redis while Postgres is down', async ({
    expect,
  }) => {
    const { code, stderr } = await runElevens(['model', 'rollback'], {
      ...infra.env,
      DATABASE_URL: UNREACHABLE_POSTGRES,
    });
    expect(code).toBe(1);
    // The build test above published one version: there is nothing earlier to go back to.
    expect(stderr.replace(SOURCE_NOTICE, '').trim()).toMatch(
      /^no earlier model version than \S+ to roll back to$/,
    );
  });
});

describe.concurrent('elevens model, with a store down', () => {
  it.for<[string, string[], Record<string, string>, RegExp]>([
    ['list', ['model', 'list'], { DATABASE_URL: UNREACHABLE_POSTGRES }, /^Postgres is not reachable at /],
    ['list', ['model', 'list'], { REDIS_URL: UNREACHABLE_REDIS }, /^Redis is not reachable at /],
    ['rollback', ['model', 'rollback'], { REDIS_URL: UNREACHABLE_REDIS }, /^Redis is not reachable at /],
  ])(
    'model %s says in one line which store does not answer (%j)',
    async ([, args, env, line], { expect }) => {
      const { code, stdout, stderr } = await runElevens(args, { ...infra.env, ...env });
      expect(code).toBe(1);
      expect(stdout).toBe('');
      const lines = stderr.replace(SOURCE_NOTICE, '').trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(line);
    },
  );
});

describe.concurrent('elevens loadtest --out', () => {
  it('refuses an output it cannot write before sending any load, in one line', async ({ expect }) => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, '');
    const { code, stdout, stderr } = await runElevens(
      [
        'loadtest',
        ...['--duration', '2s', '--baseline', '1', '--peak', '2'],
        ...['--api', 'http://127.0.0.1:1', '--ingest', 'http://127.0.0.1:1', '--out', file],
      ],
      infra.env,
    );
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.replace(SOURCE_NOTICE, '').trim().split('\n')).toEqual([
      `--out: cannot write the report into ${file}: it is not a directory`,
    ]);
  });
});

describe.concurrent('elevens report campaign --out', () => {
  it('names an output it cannot write in one line, without a stack trace', async ({ expect }) => {
    const out = join(dir, 'no-such-directory', 'report.md');
    const { code, stdout, stderr } = await runElevens(
      ['report', 'campaign', '--from', '2026-11-10T00:00:00Z', '--to', '2026-11-12T00:00:00Z', '--out', out],
      infra.env,
    );
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(STACK_FRAME);
    const lines = stderr.replace(SOURCE_NOTICE, '').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^--out: cannot write the report to ${out}: .*ENOENT`));
  });
});

describe.concurrent('elevens demo, told a shop it cannot make', () => {
  it.for<[string, string, string]>([
    ['--users', '0', '--users must be at least 1, got 0'],
    ['--items', '0', '--items must be at least 1, got 0'],
    ['--events', '-1', '--events must be at least 0, got -1'],
  ])('refuses %s %s in one line, before starting anything', async ([flag, value, message], { expect }) => {
    const { code, stdout, stderr } = await runElevens(['demo', '--once', flag, value], infra.env);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderr).toContain(message);
  });
});
