import {
  DEFAULT_MODEL_LINE,
  decodeScored,
  deleteKeysWithPrefix,
  ModelStore,
  type ModelToPublish,
} from '@elevens/redis-stores';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RedisBackend } from './backends';

/** A Redis backend the model store runs on, as a test file set it up (its own key prefix). */
export type ModelBackend = Pick<RedisBackend, 'keys' | 'redis' | 'connect' | 'slotOf'>;

/**
 * A model whose size tells its version apart: `numItems` items, each with `k` neighbours and (every other item)
 * one item bought together, a popular list and one category's.
 */
export function syntheticModel(version: string, numItems: number, k: number): ModelToPublish {
  const ptr = new Uint32Array(numItems + 1);
  const idx = new Uint32Array(numItems * k);
  const score = new Float64Array(numItems * k);
  for (let i = 0; i < numItems; i++) {
    ptr[i + 1] = (i + 1) * k;
    for (let n = 0; n < k; n++) {
      idx[i * k + n] = (i + n + 1) % numItems;
      score[i * k + n] = 1 / (n + 1);
    }
  }
  const togetherPtr = new Uint32Array(numItems + 1);
  const togetherIdx: number[] = [];
  for (let i = 0; i < numItems; i++) {
    if (i % 2 === 0) togetherIdx.push((i + 2) % numItems);
    togetherPtr[i + 1] = togetherIdx.length;
  }
  return {
    version,
    algorithm: 'cosine',
    builtAtMs: 1_800_000_000_000,
    itemIds: Array.from({ length: numItems }, (_, i) => `item-${i}`),
    itemCategories: Array.from({ length: numItems }, (_, i) => (i % 3 === 0 ? 'c1' : '')),
    neighbors: { ptr, idx, score },
    boughtTogether: {
      ptr: togetherPtr,
      idx: Uint32Array.from(togetherIdx),
      score: togetherIdx.map(() => 0.5),
    },
    popular: { idx: [0, 1], score: [2, 1] },
    trending: { idx: [1], score: [3] },
    popularByCategory: new Map([['c1', { idx: [0, 3], score: [4, 2] }]]),
  };
}

/**
 * The model store's contract, the same on every backend: publishing switches a line atomically (a reader on
 * another connection never sees a half-written version), a version reads back whole (snapshot and lists), rollback
 * and retention per line, named lines independent of each other; on a cluster, every key of a line in one slot.
 */
export function modelStoreConformance(backend: () => ModelBackend, options: { cluster: boolean }) {
  const store = () => new ModelStore(backend().redis, backend().keys);
  const publish = (version: string, line = DEFAULT_MODEL_LINE, numItems = 50, k = 5, at = Date.now()) =>
    store()
      .line(line)
      .publish(syntheticModel(version, numItems, k), { now: () => at });
  const states = async (line = DEFAULT_MODEL_LINE) =>
    Object.fromEntries((await store().line(line).versions()).map((v) => [v.version, v.state]));

  beforeEach(async () => {
    await deleteKeysWithPrefix(backend().redis, `${backend().keys.prefix}model:`);
  });

  describe('publishing', () => {
    it('switches the current version, registers the line, and lists versions newest first', async () => {
      expect(await store().line().current()).toBeNull();
      expect(await publish('v1')).toBeNull();
      expect(await publish('v2')).toBe('v1');
      expect(await store().line().current()).toBe('v2');
      expect(await store().lines()).toEqual([DEFAULT_MODEL_LINE]);
      expect(await store().lineOf('v1')).toBe(DEFAULT_MODEL_LINE);
      const versions = await store().line().versions();
      expect(versions.map((v) => [v.version, v.state, v.algorithm, v.items])).toEqual([
        ['v2', 'current', 'cosine', 50],
        ['v1', 'published', 'cosine', 50],
      ]);
    });

    it('never shows a reader on another connection a half-written model while versions are switched', async () => {
      const sizes: Record<string, { items: number; k: number }> = {
        small: { items: 1_000, k: 5 },
        large: { items: 12_000, k: 10 },
        medium: { items: 6_000, k: 20 },
      };
      await publish('small', DEFAULT_MODEL_LINE, sizes.small!.items, sizes.small!.k);
      const reader = backend().connect();
      const { keys } = backend();
      let publishing = true;
      const seen = new Map<string, number>();
      const problems: string[] = [];
      const readOnce = async () => {
        const version = (await reader.get(keys.modelCurrent()))!;
        const [meta, lists, items, sample] = (await reader
          .pipeline()
          .hgetall(keys.modelMeta(version))
          .hlen(keys.modelNeighbors(version))
          .strlen(keys.modelItems(version))
          .hgetBuffer(keys.modelNeighbors(version), 'item-999')
          .exec())!.map(([error, value]) => {
          if (error) throw error;
          return value;
        }) as [Record<string, string>, number, number, Buffer | null];
        const expected = sizes[version]!;
        if (Number(meta.items) !== expected.items) problems.push(`${version}: meta ${JSON.stringify(meta)}`);
        if (lists !== expected.items) problems.push(`${version}: ${lists} of ${expected.items} lists`);
        if (items === 0) problems.push(`${version}: no item table`);
        if (!sample || decodeScored(sample).idx.length !== expected.k) problems.push(`${version}: bad list`);
        seen.set(version, (seen.get(version) ?? 0) + 1);
      };
      const readLoop = async () => {
        while (publishing) await readOnce();
      };
      // Besides the loop, a read after each round trip of list writes: its GET leaves before the publish's next
      // command, so reads land inside every publish however fast the machine writes (the loop alone could finish
      // one read before a large publish's writes and the switch).
      const duringPublish: Promise<void>[] = [];
      const publishWhileReading = (version: string) =>
        store()
          .line()
          .publish(syntheticModel(version, sizes[version]!.items, sizes[version]!.k), {
            onProgress: () => {
              duringPublish.push(readOnce());
            },
          });
      // One read first: a new cluster client connects asynchronously, and a publish on a fast machine could end
      // before its first command went out.
      await readOnce();
      const reading = readLoop();
      try {
        expect(await publishWhileReading('large')).toBe('small');
        expect(await publishWhileReading('medium')).toBe('large');
      } finally {
        publishing = false;
        await reading;
        await Promise.all(duringPublish);
        reader.disconnect();
      }
      expect(problems).toEqual([]);
      // The reads ran throughout both publishes and saw the old model served while the new ones were written.
      expect(seen.get('small')).toBeGreaterThan(1);
      expect(seen.get('large')).toBeGreaterThan(0);
      expect(await store().line().current()).toBe('medium');
    });

    it('refuses to switch to a version whose meta was never written', async () => {
      const { keys, redis } = backend();
      await expect(
        redis.elevensPublishModel(
          keys.modelCurrent(),
          keys.modelVersions(),
          keys.modelMeta('ghost'),
          keys.modelPublishing(),
          'ghost',
          Date.now(),
        ),
      ).rejects.toThrow(/incomplete/);
      expect(await store().line().current()).toBeNull();
    });

    it('refuses a switch sent again after it ran (its reply lost) as published already, the line unchanged', async () => {
      const { keys, redis } = backend();
      const at = Date.now();
      await publish('v1', DEFAULT_MODEL_LINE, 50, 5, at);
      await expect(
        redis.elevensPublishModel(
          keys.modelCurrent(),
          keys.modelVersions(),
          keys.modelMeta('v1'),
          keys.modelPublishing(),
          'v1',
          at,
        ),
      ).rejects.toThrow(/was published already/);
      expect(await states()).toEqual({ v1: 'current' });
    });

    it('deletes an unserved version whole, and refuses to delete the served one', async () => {
      await publish('kept');
      await publish('served');
      await expect(store().line().deleteVersion('served')).rejects.toThrow(/being served/);
      await store().line().deleteVersion('kept');
      expect(await backend().redis.exists(...backend().keys.modelVersionKeys('kept'))).toBe(0);
      expect(await store().lineOf('kept')).toBeNull();
      expect(await states()).toEqual({ served: 'current' });
    });
  });

  describe('reading a version', () => {
    it('reads back every part as published: snapshot and both kinds of lists', async () => {
      const model = syntheticModel('whole', 300, 7);
      await store().line().publish(model);
      const snapshot = (await store().line().loadSnapshot('whole'))!;
      expect(snapshot.itemIds).toEqual(model.itemIds);
      expect(snapshot.itemIndex.get('item-299')).toBe(299);
      expect(snapshot.itemCategories).toEqual(model.itemCategories);
      expect(snapshot.meta).toMatchObject({ version: 'whole', line: DEFAULT_MODEL_LINE, items: '300' });
      expect([...snapshot.popular.idx]).toEqual([0, 1]);
      expect([...snapshot.trending.idx]).toEqual([1]);
      expect([...snapshot.popularByCategory.get('c1')!.idx]).toEqual([0, 3]);

      const neighbors = await store()
        .line()
        .loadLists('whole', 'neighbors', snapshot.itemIndex, { yieldEvery: 64 });
      expect([...neighbors.ptr]).toEqual([...model.neighbors.ptr]);
      expect([...neighbors.idx]).toEqual([...model.neighbors.idx]);
      expect([...neighbors.score]).toEqual([...Float32Array.from(model.neighbors.score)]);
      const together = await store().line().loadLists('whole', 'boughtTogether', snapshot.itemIndex);
      expect([...together.ptr]).toEqual([...model.boughtTogether.ptr]);
      expect([...together.idx]).toEqual([...model.boughtTogether.idx]);
    });

    it('reads lists into shared memory when asked, the same entries as a private copy', async () => {
      const model = syntheticModel('shared', 300, 7);
      await store().line().publish(model);
      const { itemIndex } = (await store().line().loadSnapshot('shared'))!;
      const own = await store().line().loadLists('shared', 'neighbors', itemIndex);
      const shared = await store().line().loadLists('shared', 'neighbors', itemIndex, { shared: true });
      for (const part of ['ptr', 'idx', 'score'] as const) {
        expect(own[part].buffer).toBeInstanceOf(ArrayBuffer);
        expect(shared[part].buffer).toBeInstanceOf(SharedArrayBuffer);
        expect([...shared[part]]).toEqual([...own[part]]);
      }
    });

    it('gives no snapshot of a version that does not exist', async () => {
      expect(await store().line().loadSnapshot('never')).toBeNull();
    });
  });

  describe('rollback', () => {
    it('serves the previous version, retires the current one, and stops at the oldest', async () => {
      const line = store().line();
      for (const v of ['v1', 'v2', 'v3']) await publish(v);
      expect(await line.rollback()).toEqual({ retired: 'v3', restored: 'v2' });
      expect(await states()).toEqual({ v2: 'current', v1: 'published', v3: 'retired' });
      expect(await line.rollback()).toEqual({ retired: 'v2', restored: 'v1' });
      await expect(line.rollback()).rejects.toThrow(/no earlier model version than v1/);
      expect(await line.current()).toBe('v1');
      // A new build after a rollback is served normally; the retired versions stay retired.
      expect(await publish('v4')).toBe('v1');
      expect(await states()).toEqual({ v4: 'current', v1: 'published', v2: 'retired', v3: 'retired' });
    });

    it('says so when a line has nothing to roll back', async () => {
      await expect(store().line('empty').rollback()).rejects.toThrow(/no model is served in the line empty/);
    });

    it('never lets a clean-up free a version that rollbacks served meanwhile (rolled back twice during it)', async () => {
      const { keys, redis } = backend();
      const start = Date.parse('2026-11-11T00:00:00.000Z');
      for (const [i, v] of ['a', 'b', 'c', 'd'].entries())
        await publish(v, DEFAULT_MODEL_LINE, 50, 5, start + i * 1000);
      // A build's clean-up reads the line, then an operator rolls back twice (d → c → b) before it deletes
      // anything: b, two steps back when it read, is served when it gets to it.
      let rolledBack = false;
      const cleanupClient = new Proxy(redis, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (property !== 'zrevrange') return typeof value === 'function' ? value.bind(target) : value;
          return async (...args: Parameters<typeof redis.zrevrange>) => {
            const read = await target.zrevrange(...args);
            if (args[0] === keys.modelVersions() && !rolledBack) {
              rolledBack = true;
              await store().line().rollback();
              await store().line().rollback();
            }
            return read;
          };
        },
      });
      const deleted = await new ModelStore(cleanupClient, keys)
        .line()
        .deleteOldVersions({ graceMs: 60_000, nowMs: start + 4000 + 60_001 });
      expect(rolledBack).toBe(true);
      expect(await store().line().current()).toBe('b');
      expect(deleted).not.toContain('b');
      // The served version is whole: the api loads it, and a later rollback or clean-up finds it published.
      expect(await store().line().loadSnapshot('b')).not.toBeNull();
      expect(await redis.exists(...keys.modelVersionKeys('b'))).toBe(keys.modelVersionKeys('b').length);
      expect((await states()).b).toBe('current');
    });
  });

  describe('retention', () => {
    it('keeps current and previous, and deletes replaced and retired versions only after the grace period', async () => {
      // A second between publishes: versions published in the same millisecond replace none of each other.
      const start = Date.parse('2026-11-11T00:00:00.000Z');
      for (const [i, v] of ['a', 'b', 'c', 'd'].entries())
        await publish(v, DEFAULT_MODEL_LINE, 50, 5, start + i * 1000);
      const now = start + 4000;
      const line = store().line();
      await line.rollback(() => now);
      const graceMs = 60_000;
      // Within the grace period nothing goes, not even versions two steps back.
      expect(await line.deleteOldVersions({ graceMs, nowMs: now })).toEqual([]);
      expect(Object.keys(await states()).sort()).toEqual(['a', 'b', 'c', 'd']);

      const deleted = await line.deleteOldVersions({ graceMs, nowMs: now + graceMs + 1 });
      // c is current (after the rollback) and b its predecessor; a was replaced long enough ago, d retired.
      expect(deleted.sort()).toEqual(['a', 'd']);
      expect(await states()).toEqual({ c: 'current', b: 'published' });
      const { keys, redis } = backend();
      for (const v of ['a', 'd']) {
        expect(await redis.exists(...keys.modelVersionKeys(v))).toBe(0);
        expect(await store().lineOf(v)).toBeNull();
      }
      expect(await redis.exists(keys.modelNeighbors('b'), keys.modelMeta('b'))).toBe(2);
    });

    it('never deletes a version it is told to keep (one an experiment names)', async () => {
      const start = Date.parse('2026-11-11T00:00:00.000Z');
      for (const [i, v] of ['old', 'pinned', 'p', 'q', 'r'].entries())
        await publish(v, DEFAULT_MODEL_LINE, 50, 5, start + i * 1000);
      const deleted = await store()
        .line()
        .deleteOldVersions({ graceMs: 0, nowMs: start + 10_000, keep: new Set(['pinned']) });
      expect(deleted.sort()).toEqual(['old', 'p']);
      expect(await states()).toEqual({ r: 'current', q: 'published', pinned: 'published' });
    });
  });

  describe('a publish that never finished', () => {
    const abandonedAfterMs = 3_600_000;
    const start = Date.parse('2026-11-11T00:00:00.000Z');
    /** A build killed while publishing: its version registered and partly written, nothing switched or deleted. */
    const publishUntilKilled = (version: string, startedAt: number) =>
      expect(
        store()
          .line()
          .publish(syntheticModel(version, 50, 5), {
            now: () => startedAt,
            onProgress: () => {
              throw new Error('killed');
            },
          }),
      ).rejects.toThrow('killed');

    it('frees every key of a version abandoned mid-publish once the abandon period has passed, not before', async () => {
      const { keys, redis } = backend();
      await publish('served', DEFAULT_MODEL_LINE, 50, 5, start);
      await publishUntilKilled('killed', start + 1000);
      await publishUntilKilled('younger', start + abandonedAfterMs);
      expect(await redis.exists(...keys.modelVersionKeys('killed'))).toBeGreaterThan(0);
      const line = store().line();

      const firstCleanup = start + 1000 + abandonedAfterMs;
      expect(
        await line.deleteOldVersions({ graceMs: 60_000, abandonedAfterMs, nowMs: firstCleanup }),
      ).toEqual(['killed']);
      expect(await redis.exists(...keys.modelVersionKeys('killed'))).toBe(0);
      expect(await store().lineOf('killed')).toBeNull();
      // Younger than the period: it may still be publishing, so nothing of it goes.
      expect(await redis.exists(...keys.modelVersionKeys('younger'))).toBeGreaterThan(0);
      expect(await store().lineOf('younger')).toBe(DEFAULT_MODEL_LINE);
      expect(await states()).toEqual({ served: 'current', younger: 'publishing' });

      expect(
        await line.deleteOldVersions({
          graceMs: 60_000,
          abandonedAfterMs,
          nowMs: start + 2 * abandonedAfterMs,
        }),
      ).toEqual(['younger']);
      expect(await redis.exists(...keys.modelVersionKeys('younger'))).toBe(0);
      expect(await states()).toEqual({ served: 'current' });
      expect(await redis.exists(keys.modelPublishing())).toBe(0);
    });

    it('never frees a version while it is being published, and forgets it as publishing once published', async () => {
      const { keys, redis } = backend();
      await publish('served', DEFAULT_MODEL_LINE, 50, 5, start);
      const line = store().line();
      const cleanups: Promise<string[]>[] = [];
      await line.publish(syntheticModel('live', 50, 5), {
        now: () => start + 1000,
        // Clean-ups just within the period, interleaved with the publish's writes.
        onProgress: () => {
          cleanups.push(
            line.deleteOldVersions({ graceMs: 0, abandonedAfterMs, nowMs: start + abandonedAfterMs }),
          );
        },
      });
      expect((await Promise.all(cleanups)).flat()).toEqual([]);
      expect(await line.current()).toBe('live');
      const snapshot = (await line.loadSnapshot('live'))!;
      expect((await line.loadLists('live', 'boughtTogether', snapshot.itemIndex)).idx.length).toBe(25);
      expect(await redis.exists(keys.modelPublishing())).toBe(0);

      // A build killed between the switch and forgetting its entry: the published version stays, the entry goes.
      await redis.zadd(keys.modelPublishing(), start + 1000, 'live');
      expect(
        await line.deleteOldVersions({ graceMs: 0, abandonedAfterMs, nowMs: start + 10 * abandonedAfterMs }),
      ).toEqual([]);
      expect(await redis.exists(keys.modelPublishing())).toBe(0);
      expect(await states()).toEqual({ live: 'current', served: 'published' });
    });

    it('never switches to a version a clean-up freed as abandoned while it was still being written', async () => {
      const { keys, redis } = backend();
      await publish('served', DEFAULT_MODEL_LINE, 50, 5, start);
      // The build stalls (paused, swapped out) past the abandon period just before writing its meta; another
      // build's clean-up frees it meanwhile, then it resumes and writes the rest.
      let freed: string[] = [];
      const stallingClient = new Proxy(redis, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (property !== 'hset') return typeof value === 'function' ? value.bind(target) : value;
          return async (...args: Parameters<typeof redis.hset>) => {
            if (args[0] === keys.modelMeta('stalled'))
              freed = await store()
                .line()
                .deleteOldVersions({
                  graceMs: 60_000,
                  abandonedAfterMs,
                  nowMs: start + 1000 + abandonedAfterMs,
                });
            return (target.hset as (...a: unknown[]) => Promise<number>)(...args);
          };
        },
      });
      const stalled = new ModelStore(stallingClient, keys)
        .line()
        .publish(syntheticModel('stalled', 50, 5), { now: () => start + 1000 });
      await expect(stalled).rejects.toThrow(/stalled/);
      expect(freed).toEqual(['stalled']);
      // Its neighbour lists were freed: serving it would be serving half a model.
      expect(await store().line().current()).toBe('served');
      expect(await states()).toEqual({ served: 'current' });
    });

    it('forgets a version being published when a failed build deletes it', async () => {
      await publishUntilKilled('failed', start);
      await store().line().deleteVersion('failed');
      expect(await states()).toEqual({});
      expect(await backend().redis.exists(backend().keys.modelPublishing())).toBe(0);
    });
  });

  describe('named lines', () => {
    it('publish, roll back and delete independently of each other and of the default line', async () => {
      await publish('d1');
      await publish('d2');
      await publish('e1', 'ease');
      await publish('e2', 'ease');
      expect(await store().lines()).toEqual(['default', 'ease']);
      expect(await store().lineOf('e1')).toBe('ease');
      expect(await store().lineOf('d1')).toBe(DEFAULT_MODEL_LINE);
      expect(await store().line('ease').current()).toBe('e2');
      expect(await store().line().current()).toBe('d2');

      expect(await store().line('ease').rollback()).toEqual({ retired: 'e2', restored: 'e1' });
      expect(await store().line().current()).toBe('d2');
      expect(await states()).toEqual({ d2: 'current', d1: 'published' });
      expect(await states('ease')).toEqual({ e1: 'current', e2: 'retired' });

      expect(
        await store()
          .line('ease')
          .deleteOldVersions({ graceMs: 0, nowMs: Date.now() + 1 }),
      ).toEqual(['e2']);
      expect(await states()).toEqual({ d2: 'current', d1: 'published' });
      const snapshot = (await store().line('ease').loadSnapshot('e1'))!;
      expect(snapshot.meta.line).toBe('ease');
      // The same version name read through the default line is not there.
      expect(await store().line().loadSnapshot('e1')).toBeNull();
    });

    it('refuses a version already published in another line, and a name that is not a line name', async () => {
      await publish('shared', 'als');
      await expect(publish('shared')).rejects.toThrow(/belongs to the line als/);
      expect(await store().line().current()).toBeNull();
      expect(() => store().line('Not A Line')).toThrow(/not a model line name/);
      expect(() => store().line('}x')).toThrow(/not a model line name/);
    });
  });

  // Only a cluster has slots: a standalone server's run has no such tests rather than skipped ones.
  if (options.cluster)
    describe('on a cluster', () => {
      it('keeps every key of a line in one slot, whatever the line', async () => {
        const { keys } = backend();
        for (const line of [DEFAULT_MODEL_LINE, 'ease', 'als']) {
          const lineKeys = [
            keys.modelCurrent(line),
            keys.modelVersions(line),
            keys.modelRetired(line),
            keys.modelPublishing(line),
            ...keys.modelVersionKeys('v1', line),
            ...keys.modelVersionKeys('20261111T000000Z-abcdef', line),
          ];
          const slots = new Set(await Promise.all(lineKeys.map((key) => backend().slotOf(key))));
          expect(slots.size, line).toBe(1);
        }
      });
    });
}
