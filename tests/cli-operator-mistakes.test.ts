import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runElevens } from './support/service-processes';

const elevens = (args: string[], env: Record<string, string> = {}) => runElevens(args, env);

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;
const UNREACHABLE_POSTGRES = 'postgres://root@127.0.0.1:1/elevens';

let infra: TestInfra;
let dir: string;
let events: string;
/** A database of this file's that nothing migrates. */
let bareDatabaseUrl: string;

beforeAll(async () => {
  infra = await createTestInfra('cli-operator-mistakes');
  dir = mkdtempSync(join(tmpdir(), 'elevens-cli-mistakes-'));
  events = join(dir, 'events.csv');
  writeFileSync(events, 'event_id,user_id,item_id,type,timestamp\nm1,u1,i1,view,1511658000000\n');
  const url = new URL(infra.databaseUrl);
  url.pathname = `${url.pathname}_bare`;
  bareDatabaseUrl = url.toString();
  await infra.pool.query(`CREATE DATABASE "${url.pathname.slice(1)}"`);
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (infra) {
    const bare = new URL(bareDatabaseUrl).pathname.slice(1);
    await infra.pool.query(`DROP DATABASE IF EXISTS "${bare}" WITH (FORCE)`);
    await infra.close();
  }
});

// Each command is refused on its own inputs, storing nothing another test reads: they run side by side.
describe.concurrent('elevens, told something wrong by its operator', () => {
  it('names a bad --limit without a stack trace, and refuses a limit below 1', async ({ expect }) => {
    const [word, zero] = await Promise.all([
      elevens(['import', events, '--format', 'csv', '--limit', 'ten'], infra.env),
      elevens(['import', events, '--format', 'csv', '--limit', '0'], infra.env),
    ]);
    expect(word.code).toBe(1);
    expect(word.stderr).toContain('--limit must be an integer, got "ten"');
    expect(word.stderr).not.toMatch(STACK_FRAME);

    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain('--limit must be at least 1, got 0');
    expect(zero.stdout).toBe('');
  });

  it('names a bad number of generate and evaluate without a stack trace', async ({ expect }) => {
    const [generate, evaluate] = await Promise.all([
      elevens(['generate', '--users', '10', '--items', 'many', '--events', '5']),
      elevens(['evaluate', '--dataset', 'movielens', '--alpha1', 'half']),
    ]);
    expect(generate.code).toBe(1);
    expect(generate.stderr).toContain('--items must be an integer, got "many"');
    expect(generate.stderr).not.toMatch(STACK_FRAME);

    expect(evaluate.code).toBe(1);
    expect(evaluate.stderr).toContain('--alpha1 must be a number, got "half"');
    expect(evaluate.stderr).not.toMatch(STACK_FRAME);
  });

  it('fails an import of which every line was skipped (a file of another format), after its summary', async ({
    expect,
  }) => {
    const movielens = join(dir, 'u.data');
    writeFileSync(movielens, '196\t242\t3\t881250949\n186\t302\t3\t891717742\n');
    const { code, stdout, stderr } = await elevens(['import', movielens, '--format', 'taobao'], infra.env);
    expect(code).toBe(1);
    expect(stdout).toContain('0 events read, 0 stored, 0 already stored, 2 lines skipped');
    expect(stderr.trim().split('\n')).toEqual([
      'no line of u.data is a taobao event (2 skipped): check --format',
    ]);
  });

  it('says in one line that a directory is not a file to import', async ({ expect }) => {
    const { code, stderr } = await elevens(['import', dir, '--format', 'csv'], infra.env);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([`cannot read ${dir}: not a file`]);
  });

  it.for<[string, string]>([
    ['--concurrency', '0.5'],
    ['--batch-size', '0.9'],
    ['--limit', '0.2'],
  ])(
    'refuses a replay %s of %s, which would send nothing and never end',
    async ([flag, value], { expect }) => {
      const { code, stderr } = await elevens(['replay', events, '--format', 'csv', flag, value], infra.env);
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toEqual([`${flag} must be at least 1, got ${value}`]);
    },
  );

  it.for<[string, string[]]>([
    ['keys list', ['keys', 'list']],
    ['keys create', ['keys', 'create', '--name', 'shop', '--scopes', 'admin']],
    ['keys revoke', ['keys', 'revoke', 'key_0123456789abcdef']],
    ['build', ['build']],
  ])('%s says in one line when Postgres is unreachable', async ([, args], { expect }) => {
    const { code, stderr } = await elevens(args, { ...infra.env, DATABASE_URL: UNREACHABLE_POSTGRES });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^Postgres is not reachable at postgres:\/\/root@127\.0\.0\.1:1\/elevens .*Start it/,
    );
  });

  it('keys says in one line when DATABASE_URL names a database that does not exist, and creates none', async ({
    expect,
  }) => {
    const url = new URL(infra.databaseUrl);
    url.pathname = `${url.pathname}_absent`;
    const { code, stderr } = await elevens(['keys', 'list'], { ...infra.env, DATABASE_URL: url.toString() });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `database "${url.pathname.slice(1)}" does not exist: check DATABASE_URL, or run elevens migrate to create it`,
    );
    const { rowCount } = await infra.pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      url.pathname.slice(1),
    ]);
    expect(rowCount).toBe(0);
  });

  it('build on a database never migrated says in one line to migrate', async ({ expect }) => {
    const { code, stderr } = await elevens(['build'], { ...infra.env, DATABASE_URL: bareDatabaseUrl });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^relation "\w+" does not exist: run `elevens migrate` first$/);
  });
});
