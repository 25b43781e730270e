import {
  createRedis,
  currentModelVersion,
  decodeScored,
  deleteOldModelVersions,
  listModelVersions,
  publishModel,
  rollbackModel,
} from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel } from './synthetic-model';

let infra: TestInfra;

const publish = (version: string, numItems = 50, k = 5, now: () => number = Date.now) =>
  publishModel(infra.redis, infra.keys, syntheticModel(version, numItems, k), undefined, now);

const versionsInRedis = async () =>
  Object.fromEntries((await listModelVersions(infra.redis, infra.keys)).map((v) => [v.version, v.state]));

async function clearModels() {
  const keys = await infra.redis.keys(`${infra.keyPrefix}model:*`);
  if (keys.length > 0) await infra.redis.del(...keys);
}

beforeAll(async () => {
  infra = await createTestInfra('build-publish');
});

afterAll(async () => {
  await infra?.close();
});

describe('publishModel', () => {
  it('never shows a reader a half-written model while versions are switched', async () => {
    await clearModels();
    const sizes: Record<string, { items: number; k: number }> = {
      small: { items: 2_000, k: 5 },
      large: { items: 30_000, k: 10 },
      medium: { items: 12_000, k: 20 },
    };
    await publish('small', sizes.small!.items, sizes.small!.k);
    const reader = createRedis(infra.redisUrl);
    let publishing = true;
    const seen = new Map<string, number>();
    const problems: string[] = [];
    const readLoop = async () => {
      while (publishing) {
        const version = (await reader.get(infra.keys.modelCurrent()))!;
        const [meta, lists, items, sample] = (await reader
          .pipeline()
          .hgetall(infra.keys.modelMeta(version))
          .hlen(infra.keys.modelNeighbors(version))
          .strlen(infra.keys.modelItems(version))
          .hgetBuffer(infra.keys.modelNeighbors(version), 'item-1999')
          .exec())!.map(([error, value]) => {
          if (error) throw error;
          return value;
        }) as [Record<string, string>, number, number, Buffer | null];
        const expected = sizes[version]!;
        if (Number(meta.items) !== expected.items) problems.push(`${version}: meta ${JSON.stringify(meta)}`);
        if (lists !== expected.items)
          problems.push(`${version}: ${lists} of ${expected.items} neighbour lists`);
        if (items === 0) problems.push(`${version}: no item table`);
        if (!sample || decodeScored(sample).idx.length !== expected.k) problems.push(`${version}: bad list`);
        seen.set(version, (seen.get(version) ?? 0) + 1);
      }
    };
    const reading = readLoop();
    try {
      expect(await publish('large', sizes.large!.items, sizes.large!.k)).toBe('small');
      expect(await publish('medium', sizes.medium!.items, sizes.medium!.k)).toBe('large');
    } finally {
      publishing = false;
      await reading;
      reader.disconnect();
    }
    expect(problems).toEqual([]);
    // The loop ran throughout both publishes and saw the old model served while the new ones were written.
    expect(seen.get('small')).toBeGreaterThan(1);
    expect(seen.get('large')).toBeGreaterThan(0);
    expect(await currentModelVersion(infra.redis, infra.keys)).toBe('medium');
  });

  it('refuses to switch to a version whose meta was never written', async () => {
    await expect(
      infra.redis.elevensPublishModel(
        infra.keys.modelCurrent(),
        infra.keys.modelVersions(),
        infra.keys.modelMeta('ghost'),
        'ghost',
        Date.now(),
      ),
    ).rejects.toThrow(/incomplete/);
    expect(await currentModelVersion(infra.redis, infra.keys)).not.toBe('ghost');
  });
});

describe('rollbackModel', () => {
  it('serves the previous version, retires the current one, and stops at the oldest', async () => {
    await clearModels();
    await publish('v1');
    await publish('v2');
    await publish('v3');
    expect(await rollbackModel(infra.redis, infra.keys)).toEqual({ retired: 'v3', restored: 'v2' });
    expect(await versionsInRedis()).toEqual({ v2: 'current', v1: 'published', v3: 'retired' });
    expect(await rollbackModel(infra.redis, infra.keys)).toEqual({ retired: 'v2', restored: 'v1' });
    await expect(rollbackModel(infra.redis, infra.keys)).rejects.toThrow(/no earlier model version than v1/);
    expect(await currentModelVersion(infra.redis, infra.keys)).toBe('v1');
    // A new build after a rollback is served normally; the retired versions stay retired.
    expect(await publish('v4')).toBe('v1');
    expect(await versionsInRedis()).toEqual({ v4: 'current', v1: 'published', v2: 'retired', v3: 'retired' });
  });
});

describe('deleteOldModelVersions', () => {
  it('keeps current and previous, and deletes replaced and retired versions only after the grace period', async () => {
    await clearModels();
    // A second between publishes: versions published in the same millisecond replace none of each other.
    const start = Date.parse('2026-11-11T00:00:00.000Z');
    for (const [i, v] of ['a', 'b', 'c', 'd'].entries()) await publish(v, 50, 5, () => start + i * 1000);
    const now = start + 4000;
    await rollbackModel(infra.redis, infra.keys, () => now);
    const grace = 60_000;
    // Within the grace period nothing goes, not even versions two steps back.
    expect(await deleteOldModelVersions(infra.redis, infra.keys, grace, now)).toEqual([]);
    expect(Object.keys(await versionsInRedis()).sort()).toEqual(['a', 'b', 'c', 'd']);

    const deleted = await deleteOldModelVersions(infra.redis, infra.keys, grace, now + grace + 1);
    // c is current (after the rollback) and b its predecessor; a was replaced long enough ago, d retired.
    expect(deleted.sort()).toEqual(['a', 'd']);
    expect(await versionsInRedis()).toEqual({ c: 'current', b: 'published' });
    for (const v of ['a', 'd']) expect(await infra.redis.exists(...infra.keys.modelVersionKeys(v))).toBe(0);
    expect(await infra.redis.exists(infra.keys.modelNeighbors('b'), infra.keys.modelMeta('b'))).toBe(2);
  });
});
