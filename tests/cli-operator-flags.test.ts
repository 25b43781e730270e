import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANONYMOUS_USER_PREFIX } from '@elevens/domain';
import { createTestInfra, freePort, startTcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { importEventsFile } from '../packages/cli/src/commands/import';
import { runElevens, spawnElevens } from './support/service-processes';

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;
/** What the bin prints first when it runs the sources: not the command's own output. */
const SOURCE_NOTICE = /^elevens: no compiled CLI.*\n/m;
/** The clock of the tests on event times: 2026-11-11T12:00Z. */
const NOW = Date.UTC(2026, 10, 11, 12);

let infra: TestInfra;
let dir: string;

beforeAll(async () => {
  infra = await createTestInfra('cli-operator-flags');
  dir = mkdtempSync(join(tmpdir(), 'elevens-cli-flags-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra?.close();
});

/** The lines a command wrote to stderr, without the notice of the bin's source mode. */
const stderrLines = (stderr: string) => stderr.replace(SOURCE_NOTICE, '').trim().split('\n');

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs` with `what`. */
async function until(condition: () => boolean, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// Each suite below runs beside the others (their commands share no file, port or row another one checks); the
// commands of a suite run side by side too, but for the two demos that serve, which ingest the same shop.
describe.concurrent('elevens import of user ids ingest reserves for anonymous shoppers', () => {
  it('skips a CSV row whose user id starts with the anonymous prefix, saying why, as ingest refuses it', async ({
    expect,
  }) => {
    const file = join(dir, 'anon.csv');
    writeFileSync(
      file,
      'event_id,user_id,item_id,type,timestamp\n' +
        `anon-1,${ANONYMOUS_USER_PREFIX}someone,anon-i1,purchase,1511658000000\n` +
        'anon-2,anon-u1,anon-i1,view,1511658000000\n',
    );
    const summary = await importEventsFile(infra.pool, file, { format: 'csv', now: () => NOW });
    expect(summary).toMatchObject({ rows: 1, inserted: 1, skipped: 1 });
    expect(summary.skippedExamples).toEqual([
      `line 2: user id must not start with ${ANONYMOUS_USER_PREFIX} (kept for anonymous shoppers)`,
    ]);
    const { rows } = await infra.pool.query<{ event_id: string }>(
      "SELECT event_id FROM events WHERE event_id LIKE 'anon-%' ORDER BY event_id",
    );
    expect(rows).toEqual([{ event_id: 'anon-2' }]);
  });

  it('refuses an --id-prefix that would make every user of the file an anonymous one, in one line', async ({
    expect,
  }) => {
    const file = join(dir, 'tb-anon.csv');
    writeFileSync(file, '7,70,700,pv,1511658000\n');
    const { code, stdout, stderr } = await runElevens(
      ['import', file, '--format', 'taobao', '--id-prefix', `${ANONYMOUS_USER_PREFIX}x`],
      infra.env,
    );
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderrLines(stderr)).toEqual([
      `--id-prefix must not start with ${ANONYMOUS_USER_PREFIX} (kept for anonymous shoppers)`,
    ]);
  });
});

describe.concurrent('elevens loadtest, told nonsense', () => {
  const load = (flags: string[], out: string) =>
    runElevens(
      [
        'loadtest',
        ...[
          '--baseline',
          '1',
          '--peak',
          '2',
          '--api',
          'http://127.0.0.1:1',
          '--ingest',
          'http://127.0.0.1:1',
        ],
        ...['--out', out, ...flags],
      ],
      infra.env,
    );

  it.for<[string[], string]>([
    [['--duration', '0s'], '--duration must be at least 1s (steps last whole seconds), got "0s"'],
    [['--duration', '500ms'], '--duration must be at least 1s (steps last whole seconds), got "500ms"'],
    [['--connections', '0.5'], '--connections must be an integer, got "0.5"'],
    [['--connections', '0'], '--connections must be at least 1, got 0'],
    [['--users', '0.5'], '--users must be an integer, got "0.5"'],
    [['--items', '0'], '--items must be at least 1, got 0'],
    [
      ['--api', 'localhost:3000'],
      '--api must be an http(s) URL such as http://127.0.0.1:3000, got "localhost:3000"',
    ],
    [
      ['--ingest', 'nonsense'],
      '--ingest must be an http(s) URL such as http://127.0.0.1:3001, got "nonsense"',
    ],
  ])('refuses %j in one line, before any load or report', async ([flags, message], { expect }) => {
    const out = join(dir, `lt-${flags.join('-').replace(/\W/g, '_')}`);
    const { code, stdout, stderr } = await load(flags, out);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderrLines(stderr)).toEqual([message]);
    expect(existsSync(out)).toBe(false);
  });

  it('stops in one line, sending no load, when the target is down', async ({ expect }) => {
    const out = join(dir, 'lt-unanswered');
    const { code, stdout, stderr } = await load(['--duration', '1s'], out);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderrLines(stderr)).toEqual([
      'cannot reach the api at http://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1',
    ]);
  });
});

describe.concurrent('elevens replay --target', () => {
  it.for(['nonsense', 'localhost:3001', 'ftp://127.0.0.1:3001'])(
    'refuses %s in one line, sending nothing',
    async (target, { expect }) => {
      const file = join(dir, `replay-${target.replace(/\W/g, '_')}.csv`);
      writeFileSync(file, 'event_id,user_id,item_id,type,timestamp\nr1,u1,i1,view,1511658000000\n');
      const { code, stdout, stderr } = await runElevens(
        ['replay', file, '--format', 'csv', '--target', target],
        infra.env,
      );
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderrLines(stderr)).toEqual([
        `--target must be an http(s) URL such as http://127.0.0.1:3001, got ${JSON.stringify(target)}`,
      ]);
    },
  );
});

describe.concurrent('elevens demo', () => {
  it.for<[string, string, string]>([
    ['--api-port', '70000', '--api-port must be at most 65535, got 70000'],
    ['--ingest-port', '-1', '--ingest-port must be at least 0, got -1'],
  ])(
    'refuses %s %s naming the flag, not PORT, before starting anything',
    async ([flag, value, message], { expect }) => {
      const { code, stdout, stderr } = await runElevens(['demo', '--once', flag, value], infra.env);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).not.toMatch(STACK_FRAME);
      expect(stderr).toContain(message);
      expect(stderr).not.toContain('PORT');
    },
  );

  it.sequential('revokes its API key when interrupted while loading, before it ever printed the secret', async ({
    expect,
  }) => {
    // Redis held from the key's creation on: the demo cannot get past loading until the interrupt.
    const redisProxy = await startTcpProxy(infra.env.REDIS_URL!);
    const demo = spawnElevens(
      [
        'demo',
        ...['--users', '200', '--items', '150', '--events', '6000'],
        ...['--api-port', String(await freePort()), '--ingest-port', String(await freePort())],
      ],
      { ...infra.env, REDIS_URL: redisProxy.url(infra.env.REDIS_URL!) },
    );
    try {
      await until(() => /created API key key_\w+/.test(demo.output()), 'the demo to create its key');
      redisProxy.hold();
      const keyId = /created API key (key_\w+)/.exec(demo.output())![1]!;
      demo.child.kill('SIGINT');
      const { code, signal } = await demo.exited;
      expect(demo.output()).not.toContain('serving until Ctrl-C');
      expect({ code, signal }).toEqual({ code: 130, signal: null });
      const { rows } = await infra.pool.query<{ revoked: boolean }>(
        'SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = $1',
        [keyId],
      );
      expect(rows).toEqual([{ revoked: true }]);
    } finally {
      await demo.kill();
      redisProxy.release();
      await redisProxy.close();
    }
  });

  it.sequential('still serves until Ctrl-C, then exits with 0 and revokes its key', async ({ expect }) => {
    const demo = spawnElevens(
      [
        'demo',
        ...['--users', '50', '--items', '40', '--events', '800', '--api-port', '0', '--ingest-port', '0'],
      ],
      infra.env,
    );
    try {
      await until(() => demo.output().includes('serving until Ctrl-C'), 'the demo to serve');
      const keyId = /created API key (key_\w+)/.exec(demo.output())![1]!;
      demo.child.kill('SIGINT');
      expect(await demo.exited).toEqual({ code: 0, signal: null });
      const { rows } = await infra.pool.query<{ revoked: boolean }>(
        'SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = $1',
        [keyId],
      );
      expect(rows).toEqual([{ revoked: true }]);
    } finally {
      await demo.kill();
    }
  });
});
