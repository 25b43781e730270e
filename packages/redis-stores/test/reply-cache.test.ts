import { createKeys, createRedisClient, deleteKeysWithPrefix, type RedisClient } from '@elevens/redis-stores';
import {
  createTestInfra,
  type RedisClusterFixture,
  redisClusterUnavailable,
  startRedisCluster,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { type ReplyCacheBackend, replyCacheConformance } from './reply-cache.conformance';

const standaloneOnly = () => Promise.reject(new Error('a standalone server has no slots or masters'));

describe('reply cache on a standalone Redis', () => {
  let infra: TestInfra;
  beforeAll(async () => {
    infra = await createTestInfra('cache-reply-cache');
  });
  afterAll(async () => {
    await infra?.close();
  });
  replyCacheConformance(
    (): ReplyCacheBackend => ({
      keys: infra.keys,
      redis: infra.redis,
      slotOf: standaloneOnly,
      mastersHolding: standaloneOnly,
    }),
    { cluster: false },
  );
});

const clusterMissing = redisClusterUnavailable();

describe.skipIf(clusterMissing !== null)(
  `reply cache on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    const keys = createKeys('test:cache-reply-cache-cluster:');
    let cluster: RedisClusterFixture;
    let redis: RedisClient;
    beforeAll(async () => {
      cluster = await startRedisCluster();
      redis = createRedisClient({ url: '', clusterNodes: cluster.nodes });
    });
    afterAll(async () => {
      if (redis) {
        await deleteKeysWithPrefix(redis, keys.prefix);
        redis.disconnect();
      }
      await cluster?.stop();
    });
    /** Masters whose own keyspace (SCAN sees one node's keys only) holds a key under `prefix`. */
    const mastersHolding = async (prefix: string) => {
      const masters = 'nodes' in redis ? redis.nodes('master') : [redis];
      const holds = async (master: RedisClient) => {
        let cursor = '0';
        do {
          const [next, found] = await master.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (found.length > 0) return true;
          cursor = next;
        } while (cursor !== '0');
        return false;
      };
      return (await Promise.all(masters.map(holds))).filter(Boolean).length;
    };
    replyCacheConformance(
      (): ReplyCacheBackend => ({
        keys,
        redis,
        slotOf: async (key) => Number(await redis.call('CLUSTER', 'KEYSLOT', key)),
        mastersHolding,
      }),
      { cluster: true },
    );
  },
);
