import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runElevens, spawnElevens } from './support/service-processes';

let infra: TestInfra;
let dir: string;
let events: string;
/** A database name of this file's that nothing creates: a typo in DATABASE_URL. */
let absentName: string;
let absentUrl: string;
/** A database name of this file's that `migrate` is told to create. */
let createdName: string;
let createdUrl: string;

const databaseExists = async (name: string) =>
  (await infra.pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;

beforeAll(async () => {
  infra = await createTestInfra('cli-database-absent');
  dir = mkdtempSync(join(tmpdir(), 'elevens-cli-database-'));
  events = join(dir, 'events.csv');
  writeFileSync(events, 'event_id,user_id,item_id,type,timestamp\nd1,u1,i1,view,1511658000000\n');
  const url = new URL(infra.databaseUrl);
  absentName = `${url.pathname.slice(1)}_typo`;
  url.pathname = `/${absentName}`;
  absentUrl = url.toString();
  createdName = `${absentName}_migrated`;
  url.pathname = `/${createdName}`;
  createdUrl = url.toString();
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (infra) {
    for (const name of [absentName, createdName])
      await infra.pool.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await infra.close();
  }
});

// The commands run side by side: none creates the database another one checks is absent.
describe.concurrent('elevens pointed at a database that does not exist', () => {
  it.for<[string, string[] | (() => string[])]>([
    ['build', ['build']],
    ['import', () => ['import', events, '--format', 'csv']],
    ['events prune', ['events', 'prune', '--older-than', '180d']],
    ['events rebuild-live-state', ['events', 'rebuild-live-state']],
    ['model list', ['model', 'list']],
    [
      'report campaign',
      ['report', 'campaign', '--from', '2025-11-10T00:00:00Z', '--to', '2025-11-12T00:00:00Z'],
    ],
    ['rollups rebuild', ['rollups', 'rebuild']],
    ['evaluate --dataset postgres', ['evaluate', '--dataset', 'postgres']],
    ['keys list', ['keys', 'list']],
  ])('%s refuses it in one line naming it, and creates nothing', async ([, args], { expect }) => {
    const argv = typeof args === 'function' ? args() : args;
    const { code, stdout, stderr } = await runElevens(argv, { ...infra.env, DATABASE_URL: absentUrl });
    expect(stderr.trim().split('\n')).toEqual([
      `database "${absentName}" does not exist: check DATABASE_URL, or run elevens migrate to create it`,
    ]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(await databaseExists(absentName)).toBe(false);
  });

  it.for(['api', 'ingest'])('serve %s refuses it in one line at start', async (service, { expect }) => {
    const serve = spawnElevens(['serve', service], { ...infra.env, DATABASE_URL: absentUrl, PORT: '0' });
    // A service that started anyway runs until stopped: give it time to refuse, then stop it.
    const stop = setTimeout(() => void serve.kill(), 20_000);
    const { code } = await serve.exited;
    clearTimeout(stop);
    expect(serve.output().trim().split('\n')).toEqual([
      `database "${absentName}" does not exist: check DATABASE_URL, or run elevens migrate to create it`,
    ]);
    expect(code).toBe(1);
    expect(await databaseExists(absentName)).toBe(false);
  });

  it('migrate creates it and migrates it', async ({ expect }) => {
    const { code, stdout, stderr } = await runElevens(['migrate'], {
      ...infra.env,
      DATABASE_URL: createdUrl,
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^applied /);
    expect(await databaseExists(createdName)).toBe(true);
  });
});
