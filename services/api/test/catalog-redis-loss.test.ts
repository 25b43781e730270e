import type { ItemListReply } from '@elevens/domain';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { deleteKeysWithPrefix } from '@elevens/redis-stores';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { publishFixtureModel, testApiConfig } from './recommendations-fixtures';

let infra: TestInfra;
let ingest: IngestApp;
/** Reaches Postgres through `apiPostgres`, which the tests take away. */
let api: ApiApp;
let apiPostgres: TcpProxy;
/** The api's errors and warnings, some asserted. */
const logs = createLogSink();

/**
 * Polls only when a test calls `catalog.refresh()` (the longest interval the config takes, past any test here), so
 * each step is one poll and no poll of its own restores the set between a test's steps.
 */
const buildApi = (env: Record<string, string>) =>
  buildApiApp({
    config: { ...testApiConfig({ ...env, LOG_LEVEL: 'warn' }), MODEL_POLL_MS: 60_000 },
    logging: { stream: logs.stream },
  });

beforeAll(async () => {
  infra = await createTestInfra('api-catalog-redis-loss');
  await publishFixtureModel(infra.redis, infra.keys);
  ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
  apiPostgres = await startTcpProxy(infra.databaseUrl);
  api = await buildApi({ ...infra.env, DATABASE_URL: apiPostgres.url(infra.databaseUrl) });
});

afterAll(async () => {
  await Promise.all([api?.close(), ingest?.close()]);
  await apiPostgres?.close();
  await infra?.close();
});

const putItems = async (on: IngestApp, items: unknown[]) => {
  const response = await on.inject({ method: 'PUT', url: '/v1/items', payload: { items } });
  expect(response.statusCode).toBe(200);
};

/** What `on` recommends beside a0 (neighbours a1, a2, b0 in the fixture model). */
const similarToA0 = async (on: ApiApp): Promise<string[]> => {
  const response = await on.inject({ method: 'GET', url: '/v1/items/a0/similar' });
  expect(response.statusCode).toBe(200);
  return (response.json() as ItemListReply).items.map((item) => item.itemId);
};

/** Redis losing every key of this test file (a restart without persistence, a failover to an empty replica). */
const loseRedis = async () => {
  await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
  await publishFixtureModel(infra.redis, infra.keys);
};

const unservableInRedis = async () => (await infra.redis.smembers(infra.keys.catalogUnservable())).sort();

describe('the unservable set after Redis lost it', () => {
  it('is kept by a running api until restored from Postgres, and restored by the next poll', async () => {
    await putItems(ingest, [
      { itemId: 'a1', blocked: true },
      { itemId: 'a2', available: false },
    ]);
    await api.catalog.refresh();
    expect(await similarToA0(api)).toEqual(['b0']);

    await loseRedis();
    await apiPostgres.refuse();
    await expect(api.catalog.refresh()).rejects.toThrow();
    expect(await similarToA0(api)).toEqual(['b0']);
    expect(logs.entries().some((entry) => entry.level >= 50 && /unservable/.test(String(entry.msg)))).toBe(
      true,
    );

    await apiPostgres.restore();
    await api.catalog.refresh();
    expect(await unservableInRedis()).toEqual(['a1', 'a2']);
    expect(await similarToA0(api)).toEqual(['b0']);
  });

  it('is restored by an api starting without it', async () => {
    await loseRedis();
    const started = await buildApi(infra.env);
    try {
      expect(await similarToA0(started)).toEqual(['b0']);
      expect(await unservableInRedis()).toEqual(['a1', 'a2']);
    } finally {
      await started.close();
    }
  });

  it('is restored whole by the first catalog write after the loss, not made of its items alone', async () => {
    await loseRedis();
    await putItems(ingest, [{ itemId: 'b0', blocked: true }]);
    expect(await unservableInRedis()).toEqual(['a1', 'a2', 'b0']);
    await api.catalog.refresh();
    expect(await similarToA0(api)).toEqual([]);
  });

  it('keeps the block of a write whose copy was lost before its commit', async () => {
    const ingestPostgres = await startTcpProxy(infra.databaseUrl);
    const slow = await buildIngestApp({
      config: loadIngestConfig({ ...infra.env, DATABASE_URL: ingestPostgres.url(infra.databaseUrl) }),
    });
    try {
      ingestPostgres.hold(/COMMIT/);
      const put = slow.inject({
        method: 'PUT',
        url: '/v1/items',
        payload: { items: [{ itemId: 'a0', blocked: true }] },
      });
      await ingestPostgres.whenHeld(/COMMIT/);
      await loseRedis();
      // The restore must not miss the block committed after its own read of the catalog.
      const refreshed = api.catalog.refresh();
      await untilRestoreWaitsOrEnds(refreshed);
      ingestPostgres.release();
      expect((await put).statusCode).toBe(200);
      await refreshed;
      expect(await unservableInRedis()).toEqual(['a0', 'a1', 'a2', 'b0']);
    } finally {
      await slow.close();
      await ingestPostgres.close();
    }
  });
});

/** Resolves once `task` ended or a statement of this database waits for a lock (or after 2 s). */
async function untilRestoreWaitsOrEnds(task: Promise<unknown>): Promise<void> {
  let ended = false;
  void task.finally(() => {
    ended = true;
  });
  for (let waited = 0; waited < 200 && !ended; waited++) {
    const { rows } = await infra.pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
