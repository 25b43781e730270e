import { CatalogItems, type UnservableItemsCopy } from '@elevens/db';
import type { ItemListReply } from '@elevens/domain';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { createKeys, UnservableItems } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { publishFixtureModel, testApiConfig } from './recommendations-fixtures';

let infra: TestInfra;
let ingest: IngestApp;
/** The copy in this test file's Redis keys, as ingest and the apis reach it. */
let unservable: UnservableItems;

/** Polls only when a test calls `catalog.refresh()`, so each step is one poll. */
const buildApi = () => buildApiApp({ config: { ...testApiConfig(infra.env), MODEL_POLL_MS: 60_000 } });

beforeAll(async () => {
  infra = await createTestInfra('api-catalog-lagging-replica');
  await publishFixtureModel(infra.redis, infra.keys);
  ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
  unservable = new UnservableItems(infra.redis, infra.keys);
});

afterAll(async () => {
  await ingest?.close();
  await infra?.close();
});

const putItems = async (items: unknown[]) => {
  const response = await ingest.inject({ method: 'PUT', url: '/v1/items', payload: { items } });
  expect(response.statusCode).toBe(200);
};

/** What `on` recommends beside a0 (neighbours a1, a2, b0 in the fixture model). */
const similarToA0 = async (on: ApiApp): Promise<string[]> => {
  const response = await on.inject({ method: 'GET', url: '/v1/items/a0/similar' });
  expect(response.statusCode).toBe(200);
  return (response.json() as ItemListReply).items.map((item) => item.itemId);
};

const unservableInRedis = async () => (await unservable.read()).itemIds.sort();

/**
 * What a replica holds of the copy at this moment; `failOver` puts it back whole, as Redis failing over to that
 * replica once it lagged behind every later write.
 */
const replicaNow = async () => {
  const held = await unservable.read();
  expect(held.complete).toBe(true);
  return { failOver: () => unservable.replace(held.itemIds, Number(held.version)) };
};

describe('the unservable set after Redis failed over to a replica that lagged', () => {
  it('is restored by an api that never served the newer set, which serves no item blocked since', async () => {
    await putItems([{ itemId: 'a1', blocked: true }]);
    const replica = await replicaNow();
    // A recall the replica never received.
    await putItems([{ itemId: 'a2', blocked: true }]);
    await replica.failOver();

    const started = await buildApi();
    try {
      expect(await similarToA0(started)).toEqual(['b0']);
      expect(await unservableInRedis()).toEqual(['a1', 'a2']);
    } finally {
      await started.close();
    }
  });

  it('is restored after a catalog write lands on it, not taken whole at the version that write reached', async () => {
    await putItems([
      { itemId: 'a1', blocked: true },
      { itemId: 'a2', blocked: true },
    ]);
    const api = await buildApi();
    try {
      expect(await similarToA0(api)).toEqual(['b0']);
      const replica = await replicaNow();
      await putItems([{ itemId: 'b0', blocked: true }]);
      await replica.failOver();
      // The next write reaches the version the lost block had: the copy must not pass for whole there.
      await putItems([{ itemId: 'g0', blocked: true }]);
      expect(await unservableInRedis()).toEqual(['a1', 'a2', 'b0', 'g0']);
      await api.catalog.refresh();
      expect(await similarToA0(api)).toEqual([]);
    } finally {
      await api.close();
    }
  });

  it('is restored when a write in flight at the failover and a write on the new primary copied one version', async () => {
    const catalogItems = new CatalogItems(infra.pool);
    const newPrimary = new UnservableItems(infra.redis, createKeys(`${infra.keyPrefix}new-primary:`));
    const held = await unservable.read();
    await newPrimary.replace(held.itemIds, Number(held.version));
    // One client, whose server changes when Redis fails over.
    let connected = unservable;
    let failedOver: () => void = () => {};
    const failover = new Promise<void>((resolve) => {
      failedOver = resolve;
    });
    let resume: () => void = () => {};
    const resumed = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const copy: Pick<UnservableItemsCopy, 'record' | 'markPartial'> = {
      record: (items, newestCopied, changeId) => connected.record(items, newestCopied, changeId),
      markPartial: () => connected.markPartial(),
    };

    // Copied to the old primary, whose copy the replica never received; commits after the failover.
    const inFlight = catalogItems.upsert(
      [{ itemId: 'h0', blocked: true }],
      {
        ...copy,
        async record(items, newestCopied, changeId) {
          const recorded = await copy.record(items, newestCopied, changeId);
          connected = newPrimary;
          failedOver();
          await resumed;
          return recorded;
        },
      },
      () => 'in-flight',
    );
    await failover;
    const onNewPrimary = await catalogItems.upsert(
      [{ itemId: 'h1', blocked: true }],
      copy,
      () => 'on-new-primary',
    );
    expect(onNewPrimary.copied).toBe(true);
    resume();
    expect((await inFlight).copied).toBe(false);
    expect((await newPrimary.state()).complete).toBe(false);

    expect(await catalogItems.restoreUnservable(newPrimary)).toBe(true);
    expect((await newPrimary.read()).itemIds.sort()).toEqual(['a1', 'a2', 'b0', 'g0', 'h0', 'h1']);
  });
});
