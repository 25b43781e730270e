import { createKeys, createRedisClient, deleteKeysWithPrefix, type RedisClient } from '@elevens/redis-stores';
import {
  createTestInfra,
  type RedisClusterFixture,
  redisClusterUnavailable,
  startRedisCluster,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { type ModelBackend, modelStoreConformance } from './model-store.conformance';

describe('model store on a standalone Redis', () => {
  let infra: TestInfra;
  beforeAll(async () => {
    infra = await createTestInfra('model-store');
  });
  afterAll(async () => {
    await infra?.close();
  });
  modelStoreConformance(
    (): ModelBackend => ({
      keys: infra.keys,
      redis: infra.redis,
      connect: () => createRedisClient({ url: infra.redisUrl }),
      slotOf: () => Promise.reject(new Error('a standalone server has no slots')),
    }),
    { cluster: false },
  );
});

const clusterMissing = redisClusterUnavailable();

describe.skipIf(clusterMissing !== null)(
  `model store on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    const keyPrefix = 'test:model-store-cluster:';
    let cluster: RedisClusterFixture;
    let redis: RedisClient;
    beforeAll(async () => {
      cluster = await startRedisCluster();
      redis = createRedisClient({ url: '', clusterNodes: cluster.nodes });
    });
    afterAll(async () => {
      if (redis) {
        await deleteKeysWithPrefix(redis, keyPrefix);
        redis.disconnect();
      }
      await cluster?.stop();
    });
    modelStoreConformance(
      (): ModelBackend => ({
        keys: createKeys(keyPrefix),
        redis,
        connect: () => createRedisClient({ url: '', clusterNodes: cluster.nodes }),
        slotOf: async (key) => Number(await redis.call('CLUSTER', 'KEYSLOT', key)),
      }),
      { cluster: true },
    );
  },
);
