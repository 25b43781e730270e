import { createKeys, createRedisClient, deleteKeysWithPrefix, type RedisClient } from '@elevens/redis-stores';
import {
  createTestInfra,
  type RedisClusterFixture,
  redisClusterUnavailable,
  startRedisCluster,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { servingCopiesConformance } from './serving-copies.conformance';

describe('serving copies on a standalone Redis', () => {
  let infra: TestInfra;
  beforeAll(async () => {
    infra = await createTestInfra('cache-serving-copies');
  });
  afterAll(async () => {
    await infra?.close();
  });
  servingCopiesConformance(() => ({ keys: infra.keys, redis: infra.redis }));
});

const clusterMissing = redisClusterUnavailable();

describe.skipIf(clusterMissing !== null)(
  `serving copies on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    const keys = createKeys('test:cache-serving-copies-cluster:');
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
    servingCopiesConformance(() => ({ keys, redis }));
  },
);
