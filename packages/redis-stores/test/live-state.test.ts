import { createKeys, createRedisClient, deleteKeysWithPrefix, type RedisClient } from '@elevens/redis-stores';
import {
  createTestInfra,
  type RedisClusterFixture,
  redisClusterUnavailable,
  startRedisCluster,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { liveStateConformance } from './live-state.conformance';

describe('live state on a standalone Redis', () => {
  let infra: TestInfra;
  beforeAll(async () => {
    infra = await createTestInfra('cache-live-state');
  });
  afterAll(async () => {
    await infra?.close();
  });
  liveStateConformance(() => ({ keys: infra.keys, redis: infra.redis }));
});

const clusterMissing = redisClusterUnavailable();

describe.skipIf(clusterMissing !== null)(
  `live state on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    const keys = createKeys('test:cache-live-state-cluster:');
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
    liveStateConformance(() => ({ keys, redis }));
  },
);
