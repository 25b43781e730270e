import { buildApiApp, loadApiConfig } from '@elevens/api';
import { publishModel } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElevensClient } from '../src';

/**
 * `recommendations({ exclude })` takes whole item ids, commas included (ExternalId allows them): joined into the
 * comma-separated `exclude`, `sku,1` was read as `sku` and `1` and still answered.
 */
let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let apiUrl: string;

/** Popular, best first; no other list, so a cold user's answer is these in order. */
const ITEMS = ['sku,1', 'sku', '1', 'plain'];
const noLists = {
  ptr: new Uint32Array(ITEMS.length + 1),
  idx: new Uint32Array(0),
  score: new Float32Array(0),
};

beforeAll(async () => {
  infra = await createTestInfra('client-recommendations-exclude');
  await publishModel(infra.redis, infra.keys, {
    version: 'v-commas',
    algorithm: 'fixture',
    builtAtMs: Date.now(),
    itemIds: ITEMS,
    itemCategories: ITEMS.map(() => ''),
    neighbors: noLists,
    boughtTogether: noLists,
    popular: { idx: [0, 1, 2, 3], score: [4, 3, 2, 1] },
    trending: { idx: [], score: [] },
    popularByCategory: new Map(),
  });
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  await api.model.refresh();
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api?.close();
  await infra?.close();
});

const answered = async (exclude: readonly string[]) =>
  (await new ElevensClient({ apiUrl }).recommendations({ userId: 'cold', limit: 4, exclude })).items.map(
    (item) => item.itemId,
  );

describe('ElevensClient.recommendations excluding items', () => {
  it('excludes an id holding a comma, and only that id', async () => {
    expect(await answered(['sku,1'])).toEqual(['sku', '1', 'plain']);
  });

  it('excludes ids with and without commas together', async () => {
    expect(await answered(['plain', 'sku,1', 'sku'])).toEqual(['1']);
    expect(await answered([])).toEqual(ITEMS);
  });
});
