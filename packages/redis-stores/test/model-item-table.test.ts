import { ModelStore, type ModelToPublish } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('model-item-table');
});

afterAll(async () => {
  await infra?.close();
});

/** Three items, each the others' neighbour; ids and categories as given. */
function modelOf(version: string, itemIds: string[], itemCategories: string[]): ModelToPublish {
  return {
    version,
    algorithm: 'cosine',
    builtAtMs: 1_800_000_000_000,
    itemIds,
    itemCategories,
    neighbors: {
      ptr: Uint32Array.from([0, 2, 4, 6]),
      idx: Uint32Array.from([1, 2, 0, 2, 0, 1]),
      score: [0.9, 0.1, 0.8, 0.2, 0.7, 0.3],
    },
    boughtTogether: { ptr: new Uint32Array(4), idx: new Uint32Array(0), score: [] },
    popular: { idx: [2, 0, 1], score: [3, 2, 1] },
    trending: { idx: [], score: [] },
    popularByCategory: new Map(),
  };
}

describe('the item table of a model version', () => {
  it('reads back every item id and category as published, line breaks and backslashes included', async () => {
    // Ids are free text (only NUL is refused): a line break must not split one item into two and shift every
    // index after it, nor a backslash change an id.
    const itemIds = ['first\nline', 'back\\slash', 'plain', 'ends\\n', '\n', 'a\\\nb'];
    const itemCategories = ['shoes\nand socks', '', 'hats\\caps', '', 'x\ny', 'z'];
    const model = modelOf('v-lines', itemIds.slice(0, 3), itemCategories.slice(0, 3));
    const wide = { ...modelOf('v-wide', itemIds, itemCategories) };
    wide.neighbors = { ptr: new Uint32Array(7), idx: new Uint32Array(0), score: [] };
    wide.boughtTogether = { ptr: new Uint32Array(7), idx: new Uint32Array(0), score: [] };
    const line = new ModelStore(infra.redis, infra.keys).line();
    for (const published of [model, wide]) {
      await line.publish(published);
      const snapshot = (await line.loadSnapshot(published.version))!;
      expect(snapshot.itemIds).toEqual(published.itemIds);
      expect(snapshot.itemCategories).toEqual(published.itemCategories);
      expect(snapshot.itemIndex.get('plain')).toBe(published.itemIds.indexOf('plain'));
    }
    const snapshot = (await line.loadSnapshot('v-lines'))!;
    expect(Array.from(snapshot.popular.idx, (i) => snapshot.itemIds[i])).toEqual([
      'plain',
      'first\nline',
      'back\\slash',
    ]);
    const lists = await line.loadLists('v-lines', 'neighbors', snapshot.itemIndex);
    const neighbourIds = (item: number) =>
      Array.from(lists.idx.subarray(lists.ptr[item]!, lists.ptr[item + 1]!), (i) => snapshot.itemIds[i]);
    expect(neighbourIds(snapshot.itemIndex.get('plain')!)).toEqual(['first\nline', 'back\\slash']);
    expect(neighbourIds(snapshot.itemIndex.get('first\nline')!)).toEqual(['back\\slash', 'plain']);
  });

  it('reads a version published before ids were escaped: its table joined by line breaks, backslashes as they are', async () => {
    const { redis, keys } = infra;
    const line = new ModelStore(redis, keys).line();
    await line.publish(modelOf('v-old', ['a', 'b', 'c'], ['', '', '']));
    // What an earlier build wrote: the ids joined by "\n", no marker in the meta.
    await redis.set(keys.modelItems('v-old'), ['x\\y', 'b', 'c\\n'].join('\n'));
    await redis.set(keys.modelItemCategories('v-old'), ['k\\', '', 'm'].join('\n'));
    await redis.hdel(keys.modelMeta('v-old'), 'itemTable');
    const snapshot = (await line.loadSnapshot('v-old'))!;
    expect(snapshot.itemIds).toEqual(['x\\y', 'b', 'c\\n']);
    expect(snapshot.itemCategories).toEqual(['k\\', '', 'm']);
  });
});
