import {
  createKeys,
  createRedisClient,
  ModelStore,
  type RedisClient,
  serversOf,
} from '@elevens/redis-stores';
import { type RedisClusterFixture, redisClusterUnavailable, startRedisCluster } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel } from './model-store.conformance';

/**
 * The publish switch on a Redis at its memory limit (maxmemory, noeviction: Redis refuses commands that may grow
 * memory). Run on a local cluster of this file's own, whose limit it may lower without touching anyone else's Redis.
 */
const clusterMissing = redisClusterUnavailable();
const PUBLISHED_AT = 1_800_000_000_000;

describe.skipIf(clusterMissing !== null)(
  `publishing a model on a full Redis${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    const keys = createKeys('test:publish-full-redis:');
    let cluster: RedisClusterFixture;
    let redis: RedisClient;

    beforeAll(async () => {
      cluster = await startRedisCluster();
      redis = createRedisClient({ url: '', clusterNodes: cluster.nodes });
    });

    afterAll(async () => {
      redis?.disconnect();
      await cluster?.stop();
    });

    it('switches to a version written whole before Redis filled up, instead of wasting it', async () => {
      const line = new ModelStore(redis, keys).line();
      await line.publish(syntheticModel('served', 200, 10), { now: () => PUBLISHED_AT - 1 });
      // The clock is read when the publish starts and at its switch (PublishOptions.now): failing its second read
      // stops the publish with every key of the version written, right before the switch.
      let clockReads = 0;
      const stopAtSwitch = () => {
        clockReads++;
        if (clockReads === 2) throw new Error('stopped before the switch');
        return PUBLISHED_AT;
      };
      await expect(line.publish(syntheticModel('next', 200, 10), { now: stopAtSwitch })).rejects.toThrow(
        'stopped before the switch',
      );
      expect(await line.holds('next')).toBe(true);

      for (const server of serversOf(redis)) {
        const used = Number(/used_memory:(\d+)/.exec(await server.info('memory'))![1]);
        await server.config('SET', 'maxmemory', String(Math.floor(used / 2)));
      }
      // Full indeed: a write in the line's slot is refused.
      await expect(redis.set(keys.modelCurrent(), 'next')).rejects.toThrow(/OOM/);

      const switched = redis.elevensPublishModel(
        keys.modelCurrent(),
        keys.modelVersions(),
        keys.modelMeta('next'),
        keys.modelPublishing(),
        'next',
        PUBLISHED_AT,
      );
      await expect(switched).resolves.toBe('served');
      expect(await line.current()).toBe('next');
      expect(await line.versions()).toMatchObject([
        { version: 'next', state: 'current', at: PUBLISHED_AT },
        { version: 'served', state: 'published' },
      ]);
    });
  },
);
