import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  endRunsOfHeldLine,
  failUnfinishedModelRuns,
  finishModelRun,
  getModelRun,
  listModelRuns,
  startModelRun,
} from '../src';
import { MIGRATIONS_DIR } from '../src/migrate';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('db-model-runs');
});

afterAll(async () => {
  await infra.close();
});

const HOUR_MS = 3_600_000;
const START_MS = Date.UTC(2026, 10, 11);

/** A run started at `startedAtMs`, left as it is or finished with `status`. */
async function runStartedAt(version: string, startedAtMs: number, status?: 'published') {
  await startModelRun(infra.pool, { version, algorithm: 'cosine', params: {} });
  if (status) await finishModelRun(infra.pool, version, { status });
  await infra.pool.query('UPDATE model_runs SET started_at = $2 WHERE version = $1', [
    version,
    new Date(startedAtMs),
  ]);
}

describe('failUnfinishedModelRuns', () => {
  it('marks runs still running that started before the cutoff as failed, and nothing else', async () => {
    await runStartedAt('killed', START_MS);
    await runStartedAt('finished', START_MS, 'published');
    await runStartedAt('still-running', START_MS + 5 * HOUR_MS);
    const error = 'the build did not finish';

    expect(await failUnfinishedModelRuns(infra.pool, START_MS + 3 * HOUR_MS, error)).toEqual(['killed']);
    expect(await getModelRun(infra.pool, 'killed')).toMatchObject({
      status: 'failed',
      error,
      finishedAt: null,
    });
    expect(await getModelRun(infra.pool, 'finished')).toMatchObject({ status: 'published', error: null });
    expect(await getModelRun(infra.pool, 'still-running')).toMatchObject({ status: 'running', error: null });
    // A run marked so that did finish after all records its own outcome over the mark.
    await finishModelRun(infra.pool, 'killed', { status: 'published' });
    expect(await getModelRun(infra.pool, 'killed')).toMatchObject({ status: 'published', error: null });
  });
});

describe('endRunsOfHeldLine', () => {
  it('ends the other runs of the held line and prefix still running, at any age, and nothing else', async () => {
    const run = (version: string, modelLine: string, keyPrefix: string) =>
      startModelRun(infra.pool, { version, algorithm: 'cosine', params: {}, modelLine, keyPrefix });
    await run('held-own', 'held', 'shop-a:');
    await run('held-killed', 'held', 'shop-a:');
    await run('held-killed-after-switch', 'held', 'shop-a:');
    await run('held-finished', 'held', 'shop-a:');
    await finishModelRun(infra.pool, 'held-finished', { status: 'rejected', error: 'too small' });
    await run('held-other-prefix', 'held', 'shop-b:');
    await run('other-line', 'other', 'shop-a:');
    const error = 'interrupted: a later build took the line over';

    const ended = await endRunsOfHeldLine(infra.pool, {
      modelLine: 'held',
      keyPrefix: 'shop-a:',
      ownVersion: 'held-own',
      switchedVersions: ['held-killed-after-switch', 'other-line'],
      error,
    });
    expect(ended).toEqual({ failed: ['held-killed'], published: ['held-killed-after-switch'] });
    expect(await getModelRun(infra.pool, 'held-killed')).toMatchObject({
      status: 'failed',
      error,
      finishedAt: null,
    });
    expect(await getModelRun(infra.pool, 'held-killed-after-switch')).toMatchObject({
      status: 'published',
      error: null,
    });
    expect(await getModelRun(infra.pool, 'held-finished')).toMatchObject({
      status: 'rejected',
      error: 'too small',
    });
    for (const version of ['held-own', 'held-other-prefix', 'other-line'])
      expect(await getModelRun(infra.pool, version)).toMatchObject({ status: 'running', error: null });
  });
});

describe('the model line and key prefix of a run', () => {
  it('records them, and lists one prefix’s runs (with those of unknown prefix), of one line when asked', async () => {
    await infra.pool.query('DELETE FROM model_runs');
    const run = (version: string, modelLine: string, keyPrefix: string) =>
      startModelRun(infra.pool, { version, algorithm: 'cosine', params: {}, modelLine, keyPrefix });
    await run('shop-a-default', 'default', 'shop-a:');
    await run('shop-a-llr', 'llr', 'shop-a:');
    await run('shop-b-default', 'default', 'shop-b:');
    await startModelRun(infra.pool, { version: 'unknown', algorithm: 'cosine', params: {} });

    expect(await getModelRun(infra.pool, 'shop-a-llr')).toMatchObject({
      modelLine: 'llr',
      keyPrefix: 'shop-a:',
    });
    const versions = async (filter: Parameters<typeof listModelRuns>[2]) =>
      (await listModelRuns(infra.pool, 10, filter)).map((r) => r.version).sort();
    expect(await versions({ keyPrefix: 'shop-a:' })).toEqual(['shop-a-default', 'shop-a-llr', 'unknown']);
    expect(await versions({ keyPrefix: 'shop-a:', modelLine: 'default' })).toEqual(['shop-a-default']);
    expect(await versions({})).toEqual(['shop-a-default', 'shop-a-llr', 'shop-b-default', 'unknown']);
  });

  it('migration 0017 gives runs recorded before it their line from their params, the default line before lines', async () => {
    const migration = await readFile(join(MIGRATIONS_DIR, '0017_model_runs_line.sql'), 'utf8');
    const [up, down] = migration.split('-- Down Migration');
    await infra.pool.query('DELETE FROM model_runs');
    await infra.pool.query(down!);
    await infra.pool.query(
      `INSERT INTO model_runs (version, algorithm, params, status) VALUES
         ('before-lines', 'cosine', '{}', 'published'), ('named', 'llr', '{"model": "llr"}', 'published')`,
    );
    await infra.pool.query(up!);
    expect(await getModelRun(infra.pool, 'before-lines')).toMatchObject({
      modelLine: 'default',
      keyPrefix: null,
    });
    expect(await getModelRun(infra.pool, 'named')).toMatchObject({ modelLine: 'llr', keyPrefix: null });
  });
});
