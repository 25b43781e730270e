import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failUnfinishedModelRuns, finishModelRun, getModelRun, startModelRun } from '../src';

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
