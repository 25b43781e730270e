import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let proxy: TcpProxy;
/** An api process on Postgres directly: it serves whatever the Redis copy says, and must put it right. */
let api: ApiApp;
/** The cut connections' warnings, asserted nowhere, kept out of the test output. */
const logs = createLogSink();
/**
 * The grace the api gives an unconfirmed mark, shortened from UNCONFIRMED_GRACE_MS (2 s, as committed-copy.test.ts
 * asserts) and still three of the in-flight test's polls long: each test waits well past it in about a second.
 */
const GRACE_MS = 300;

beforeAll(async () => {
  infra = await createTestInfra('api-catalog-lost-commit');
  proxy = await startTcpProxy(infra.databaseUrl);
  // Polls only when a test calls `catalog.refresh()`.
  api = await buildApiApp({
    config: { ...loadApiConfig(infra.env), MODEL_POLL_MS: 60_000 },
    logging: { stream: logs.stream },
    unconfirmedGraceMs: GRACE_MS,
  });
});

afterAll(async () => {
  await api?.close();
  await proxy?.close();
  await infra?.close();
});

/** Long enough for a mark to pass its grace on a loaded machine, short of the test timeout. */
const HEALED = { timeout: GRACE_MS + 15_000, interval: 100 };

/** An ingest process reaching Postgres through the proxy: its catalog writes are the ones held or lost. */
const buildIngestBehindProxy = () =>
  buildIngestApp({
    config: loadIngestConfig({ ...infra.env, DATABASE_URL: proxy.url(infra.databaseUrl) }),
    logging: { stream: logs.stream },
  });

const putItem = (ingest: IngestApp, itemId: string, blocked: boolean) =>
  ingest.inject({ method: 'PUT', url: '/v1/items', payload: { items: [{ itemId, blocked }] } });

/** Blocks `itemId` (committed), and has the api serve that. */
async function recall(ingest: IngestApp, itemId: string) {
  expect((await putItem(ingest, itemId, true)).statusCode).toBe(200);
  await api.catalog.refresh();
  expect(api.catalog.isServable(itemId)).toBe(false);
}

/** Unblocks `itemId` through `ingest`, losing the write's commit as `lose` says (the proxy holds it meanwhile). */
async function unblockLosingCommit(ingest: IngestApp, itemId: string, lose: () => unknown) {
  proxy.hold(/COMMIT/);
  const answer = putItem(ingest, itemId, false);
  await proxy.whenHeld(/COMMIT/);
  await lose();
  // Clients' bytes pass again; the held COMMIT went to a connection that is gone.
  proxy.release();
  expect((await answer).statusCode).toBeGreaterThanOrEqual(500);
  const stored = await infra.pool.query('SELECT blocked FROM items WHERE item_id = $1', [itemId]);
  expect(stored.rows).toEqual([{ blocked: true }]);
}

const unconfirmed = () => infra.redis.smembers(infra.keys.catalogUnconfirmed());

describe('a catalog unblock copied to Redis whose commit fails', () => {
  it('is not served: ingest puts the committed set back before it answers', async () => {
    const ingest = await buildIngestBehindProxy();
    try {
      await recall(ingest, 'cut-off');
      await unblockLosingCommit(ingest, 'cut-off', () => proxy.cut());
      expect(await infra.redis.sismember(infra.keys.catalogUnservable(), 'cut-off')).toBe(1);
      expect(await unconfirmed()).toEqual([]);
      await api.catalog.refresh();
      expect(api.catalog.isServable('cut-off')).toBe(false);
    } finally {
      await ingest.close();
    }
  });

  it('stops being served within the grace when Postgres was away and the ingest process stopped', async () => {
    const ingest = await buildIngestBehindProxy();
    await recall(ingest, 'while-away');
    await unblockLosingCommit(ingest, 'while-away', () => proxy.refuse());
    await ingest.close();
    await proxy.restore();
    // The unblock Postgres does not hold is in Redis, with its mark.
    expect(await infra.redis.sismember(infra.keys.catalogUnservable(), 'while-away')).toBe(0);
    expect(await unconfirmed()).toHaveLength(1);
    await vi.waitFor(async () => {
      await api.catalog.refresh();
      expect(api.catalog.isServable('while-away')).toBe(false);
      expect(await unconfirmed()).toEqual([]);
    }, HEALED);
  });
});

describe('a catalog unblock in flight past the grace', () => {
  it('is served once committed, not undone by an api poll meanwhile', async () => {
    const ingest = await buildIngestBehindProxy();
    try {
      await recall(ingest, 'slow');
      proxy.hold(/COMMIT/);
      const answer = putItem(ingest, 'slow', false);
      await proxy.whenHeld(/COMMIT/);
      // The api's polls see the write's mark for well past the grace while it holds the catalog lock.
      const heldUntil = Date.now() + 2 * GRACE_MS + 500;
      while (Date.now() < heldUntil) {
        await api.catalog.refresh();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      proxy.release();
      expect((await answer).statusCode).toBe(200);
      await api.catalog.refresh();
      expect(api.catalog.isServable('slow')).toBe(true);
      expect(await unconfirmed()).toEqual([]);
    } finally {
      await ingest.close();
    }
  });
});
