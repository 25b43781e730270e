import { insertEvents } from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import { ModelStore, serversOf } from '@elevens/redis-stores';
import { type ClusterTestInfra, createClusterTestInfra, redisClusterUnavailable } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBuildConfig, runBuild } from '../src';

/**
 * A build on a Redis at its memory limit (maxmemory, noeviction: writes are refused). Run on a local cluster of
 * this file's own, whose limit it may lower without touching anyone else's Redis.
 */
const clusterMissing = redisClusterUnavailable();

const NEWEST = Date.UTC(2026, 10, 11, 12);
const ITEMS = 2000;
const USERS = 600;
const VIEWS_PER_USER = 40;

/** Each user views 40 of 2,000 items (a fixed pseudo-random draw): every item gets a full list of 50 neighbours. */
function views(): StoredEvent[] {
  const events: StoredEvent[] = [];
  let state = 7;
  const next = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state;
  };
  for (let u = 0; u < USERS; u++)
    for (let v = 0; v < VIEWS_PER_USER; v++)
      events.push({
        eventId: `e${u}-${v}`,
        userId: `u${u}`,
        itemId: `i${next() % ITEMS}`,
        type: 'view',
        timestampMs: NEWEST - (u * VIEWS_PER_USER + v) * 1000,
        sessionId: null,
        recommendationId: null,
        quantity: null,
        price: null,
        properties: null,
      });
  return events;
}

describe.skipIf(clusterMissing !== null)(
  `a build on a full Redis${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    let infra: ClusterTestInfra;

    beforeAll(async () => {
      infra = await createClusterTestInfra('build-full-redis', { ownCluster: true });
      await insertEvents(infra.pool, views());
    });

    afterAll(async () => {
      await infra?.close();
    });

    const usedMemory = async (server: ReturnType<typeof serversOf>[number]) =>
      Number(/used_memory:(\d+)/.exec(await server.info('memory'))![1]);

    it('frees the version a rollback retired before writing the next one, so the next build has its room', async () => {
      // The grace period is over for every replaced or retired version by the time the next build runs.
      const config = loadBuildConfig({ ...infra.env, BUILD_MIN_SUPPORT: '1', BUILD_VERSION_GRACE: '1ms' });
      const build = () =>
        runBuild(
          {
            pool: infra.pool,
            redis: infra.redis,
            keys: infra.keys,
            log: () => {},
            gate: () => ({ pass: true }),
          },
          config,
        );
      const line = new ModelStore(infra.redis, infra.keys).line();
      await build();
      const good = await build();
      const bad = await build();
      expect(await line.rollback()).toEqual({ retired: bad.version, restored: good.version });

      // Redis holds the served version and the retired one, with room for half a version more.
      let versionBytes = 0;
      for (const key of infra.keys.modelVersionKeys(bad.version, line.name))
        versionBytes += (await infra.redis.memory('USAGE', key, 'SAMPLES', 0)) ?? 0;
      expect(versionBytes).toBeGreaterThan(800_000);
      for (const server of serversOf(infra.redis))
        await server.config('SET', 'maxmemory', String((await usedMemory(server)) + versionBytes / 2));

      const next = await build();
      expect(next.status).toBe('published');
      expect(next.deletedVersions).toContain(bad.version);
      expect(await line.current()).toBe(next.version);
      expect(await infra.redis.exists(...infra.keys.modelVersionKeys(bad.version, line.name))).toBe(0);
    });
  },
);
