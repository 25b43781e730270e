import { createPool, getModelRun, insertEvents, type Pool } from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBuildConfig, runBuild } from '../src';

const NEWEST = Date.UTC(2026, 10, 11, 12);

let infra: TestInfra;
/** One connection: whatever a failed read leaves on it, the next query of the build meets. */
let pool: Pool;

beforeAll(async () => {
  infra = await createTestInfra('build-read-failure');
  pool = createPool(infra.databaseUrl, { max: 1 });
  // Enough rows for the COPY stream to arrive in many chunks.
  const events: StoredEvent[] = [];
  for (let n = 0; n < 10_000; n++)
    events.push({
      eventId: `e${n}`,
      userId: `user-${n % 2000}-${'u'.repeat(40)}`,
      itemId: `item-${n % 300}-${'i'.repeat(40)}`,
      type: n % 7 === 0 ? 'purchase' : 'view',
      timestampMs: NEWEST - n * 60_000,
      sessionId: null,
      recommendationId: null,
      quantity: null,
      price: null,
      properties: null,
    });
  await insertEvents(infra.pool, events);
});

afterAll(async () => {
  await pool?.end();
  await infra?.close();
});

describe('a build whose read fails midway', () => {
  it('fails, records its run as failed, and leaves the connection for the next build', async () => {
    const config = loadBuildConfig({ ...infra.env, BUILD_GATE_FORCE: 'true' });
    const deps = { pool, redis: infra.redis, keys: infra.keys, log: () => {} };
    let failedVersion = '';
    const failure = runBuild(
      {
        ...deps,
        log: (message, fields) => {
          if (message === 'build started') failedVersion = String(fields?.version);
        },
        // Whatever stops the read before the stream's end (here the progress report, in a build a parse error or
        // an allocation failure).
        onProgress: (progress) => {
          if (progress.kind === 'events') throw new Error('injected failure while reading');
        },
      },
      config,
    );
    await expect(failure).rejects.toThrow('injected failure while reading');
    expect(await getModelRun(pool, failedVersion)).toMatchObject({
      status: 'failed',
      error: 'injected failure while reading',
    });
    const next = await runBuild(deps, config);
    expect(next).toMatchObject({ status: 'published', events: 10_000 });
  }, 30_000);
});
