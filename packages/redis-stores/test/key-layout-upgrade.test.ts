import {
  DEFAULT_MODEL_LINE,
  deleteKeysWithPrefix,
  encodeScored,
  type KeyLayoutUpgrade,
  ModelStore,
  type ModelToPublish,
  type PackedLists,
  type RedisClient,
  type RedisKeys,
  serversOf,
  upgradeKeyLayout,
} from '@elevens/redis-stores';
import { beforeEach, expect, it } from 'vitest';
import { describeOnEveryBackend } from './backends';
import { syntheticModel } from './model-store.conformance';

const T0 = Date.parse('2026-11-11T00:00:00.000Z');

const NOTHING_MOVED: KeyLayoutUpgrade = {
  model: false,
  modelVersions: 0,
  keptCurrent: null,
  oldCurrent: null,
  discardedKeys: 0,
  catalog: false,
  unservableItems: 0,
};

/** Writes a version as releases before model lines did: `<prefix>model:<version>:<part>`, listed as published. */
async function writeOldLayoutVersion(redis: RedisClient, prefix: string, model: ModelToPublish, at: number) {
  const part = (what: string) => `${prefix}model:${model.version}:${what}`;
  const listsHash = async (key: string, lists: PackedLists) => {
    const fields: (string | Buffer)[] = [];
    for (let item = 0; item < model.itemIds.length; item++)
      if (lists.ptr[item + 1]! > lists.ptr[item]!)
        fields.push(
          model.itemIds[item]!,
          encodeScored(lists.idx, lists.score, lists.ptr[item]!, lists.ptr[item + 1]!),
        );
    await redis.hset(key, ...(fields as [string, Buffer]));
  };
  await redis.set(part('items'), model.itemIds.join('\n'));
  await redis.set(part('item-categories'), model.itemCategories.join('\n'));
  await listsHash(part('neighbors'), model.neighbors);
  await listsHash(part('bought-together'), model.boughtTogether);
  await redis.set(part('popular'), encodeScored(model.popular.idx, model.popular.score));
  await redis.set(part('trending'), encodeScored(model.trending.idx, model.trending.score));
  for (const [category, list] of model.popularByCategory)
    await redis.hset(part('popular-by-category'), category, encodeScored(list.idx, list.score));
  await redis.hset(part('meta'), {
    version: model.version,
    algorithm: model.algorithm,
    builtAt: String(model.builtAtMs),
    items: String(model.itemIds.length),
    publishedAt: String(at),
  });
  await redis.zadd(`${prefix}model:versions`, at, model.version);
}

/** Every key under the backend's prefix, sorted (SCAN on every master). */
async function keysUnder(redis: RedisClient, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const server of serversOf(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found.sort();
}

function keyLayoutUpgradeCases(backend: () => { redis: RedisClient; keys: RedisKeys }) {
  const store = () => new ModelStore(backend().redis, backend().keys);
  const old = (name: string) => `${backend().keys.prefix}${name}`;
  /** Every key of the new layout once `versions` are in the default line, one rolled back, and the catalog set. */
  const newLayoutKeys = (versions: string[]) => {
    const { keys } = backend();
    return [
      ...versions.flatMap((version) => keys.modelVersionKeys(version)),
      keys.modelCurrent(),
      keys.modelVersions(),
      keys.modelRetired(),
      keys.modelLines(),
      keys.modelVersionLines(),
      keys.catalogUnservable(),
      keys.catalogVersion(),
    ].sort();
  };
  const v1 = syntheticModel('v1', 40, 4);
  const v2 = syntheticModel('v2', 60, 6);

  beforeEach(async () => {
    await deleteKeysWithPrefix(backend().redis, backend().keys.prefix);
  });

  it('moves the old model and catalog into the default line and the tagged catalog keys, once', async () => {
    const { redis, keys } = backend();
    await writeOldLayoutVersion(redis, keys.prefix, v1, T0);
    await writeOldLayoutVersion(redis, keys.prefix, v2, T0 + 1000);
    await redis.set(old('model:current'), 'v2');
    // A build that failed before publishing left part of its version behind.
    await redis.set(old('model:failed:items'), 'x\ny');
    await redis.sadd(old('catalog:unservable'), 'item-1', 'item-2', 'item-7');
    await redis.set(old('catalog:version'), '14');

    expect(await upgradeKeyLayout(redis, keys)).toEqual({
      model: true,
      modelVersions: 2,
      keptCurrent: null,
      oldCurrent: 'v2',
      discardedKeys: 1,
      catalog: true,
      unservableItems: 3,
    });

    expect(await store().lines()).toEqual([DEFAULT_MODEL_LINE]);
    expect(await store().lineOf('v1')).toBe(DEFAULT_MODEL_LINE);
    const line = store().line();
    expect(await line.current()).toBe('v2');
    expect((await line.versions()).map((v) => [v.version, v.state, v.at, v.items])).toEqual([
      ['v2', 'current', T0 + 1000, 60],
      ['v1', 'published', T0, 40],
    ]);
    const snapshot = (await line.loadSnapshot('v2'))!;
    expect(snapshot.meta).toMatchObject({ version: 'v2', line: DEFAULT_MODEL_LINE, algorithm: 'cosine' });
    expect(snapshot.itemIds).toEqual(v2.itemIds);
    expect(snapshot.itemCategories).toEqual(v2.itemCategories);
    expect([...snapshot.popular.idx]).toEqual([0, 1]);
    expect([...snapshot.trending.idx]).toEqual([1]);
    expect([...snapshot.popularByCategory.get('c1')!.idx]).toEqual([0, 3]);
    const neighbors = await line.loadLists('v2', 'neighbors', snapshot.itemIndex);
    expect([...neighbors.ptr]).toEqual([...v2.neighbors.ptr]);
    expect([...neighbors.idx]).toEqual([...v2.neighbors.idx]);
    expect([...neighbors.score]).toEqual([...Float32Array.from(v2.neighbors.score)]);
    const together = await line.loadLists('v2', 'boughtTogether', snapshot.itemIndex);
    expect([...together.idx]).toEqual([...v2.boughtTogether.idx]);

    expect(await line.rollback(() => T0 + 2000)).toEqual({ retired: 'v2', restored: 'v1' });
    expect((await line.loadSnapshot('v1'))!.itemIds).toEqual(v1.itemIds);

    expect((await redis.smembers(keys.catalogUnservable())).sort()).toEqual(['item-1', 'item-2', 'item-7']);
    expect(await redis.get(keys.catalogVersion())).toBe('15');

    // Nothing of the old layout is left: every key is one of the new layout's.
    expect(await keysUnder(redis, keys.prefix)).toEqual(newLayoutKeys(['v1', 'v2']));
    expect(await upgradeKeyLayout(redis, keys)).toEqual(NOTHING_MOVED);
  });

  it('keeps the version the new layout already serves, with the old versions behind it for rollback', async () => {
    const { redis, keys } = backend();
    await store()
      .line()
      .publish(syntheticModel('v3', 30, 3), { now: () => T0 + 5000 });
    await redis.sadd(keys.catalogUnservable(), 'item-9');
    await redis.set(keys.catalogVersion(), '5');
    await writeOldLayoutVersion(redis, keys.prefix, v1, T0);
    await writeOldLayoutVersion(redis, keys.prefix, v2, T0 + 1000);
    await redis.set(old('model:current'), 'v2');
    // The old set is gone once its last item was servable again; the counter stayed.
    await redis.set(old('catalog:version'), '3');

    expect(await upgradeKeyLayout(redis, keys)).toEqual({
      model: true,
      modelVersions: 2,
      keptCurrent: 'v3',
      oldCurrent: 'v2',
      discardedKeys: 0,
      catalog: true,
      unservableItems: 0,
    });
    const line = store().line();
    expect((await line.versions()).map((v) => [v.version, v.state])).toEqual([
      ['v3', 'current'],
      ['v2', 'published'],
      ['v1', 'published'],
    ]);
    expect(await line.rollback(() => T0 + 6000)).toEqual({ retired: 'v3', restored: 'v2' });
    expect(await redis.smembers(keys.catalogUnservable())).toEqual(['item-9']);
    // Above both counters (5 and 3): a process that last read either sees a change.
    expect(await redis.get(keys.catalogVersion())).toBe('9');
    expect(await keysUnder(redis, keys.prefix)).toEqual(newLayoutKeys(['v1', 'v2', 'v3']));
    expect(await upgradeKeyLayout(redis, keys)).toEqual(NOTHING_MOVED);
  });

  it('finishes a run cut short: parts already moved are replaced, a version already moved is kept', async () => {
    const { redis, keys } = backend();
    await writeOldLayoutVersion(redis, keys.prefix, v1, T0);
    await writeOldLayoutVersion(redis, keys.prefix, v2, T0 + 1000);
    await redis.set(old('model:current'), 'v2');
    // v1 was moved whole, its old keys not yet deleted; of v2 only a part had arrived (meta not yet).
    for (const newKey of keys.modelVersionKeys('v1')) {
      const part = newKey.slice(newKey.lastIndexOf(':') + 1);
      await redis.restore(newKey, 0, (await redis.dumpBuffer(old(`model:v1:${part}`)))!);
    }
    await redis.set(keys.modelItems('v2'), 'partial');

    expect(await upgradeKeyLayout(redis, keys)).toMatchObject({
      model: true,
      modelVersions: 1,
      discardedKeys: 8,
    });
    const line = store().line();
    expect(await line.current()).toBe('v2');
    expect((await line.loadSnapshot('v2'))!.itemIds).toEqual(v2.itemIds);
    expect((await line.loadSnapshot('v1'))!.itemIds).toEqual(v1.itemIds);
    expect(await upgradeKeyLayout(redis, keys)).toEqual(NOTHING_MOVED);
  });

  it('finds nothing to move in a keyspace that never had the old layout', async () => {
    const { redis, keys } = backend();
    await store()
      .line()
      .publish(syntheticModel('fresh', 10, 2));
    expect(await upgradeKeyLayout(redis, keys)).toEqual(NOTHING_MOVED);
    expect(await store().line().current()).toBe('fresh');
  });
}

describeOnEveryBackend('key layout upgrade', 'key-layout-upgrade', (backend) =>
  keyLayoutUpgradeCases(backend),
);
