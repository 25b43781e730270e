import { createKeys, createRedisClient, deleteKeysWithPrefix, type RedisClient } from '@elevens/redis-stores';
import {
  createTestInfra,
  type RedisClusterFixture,
  redisClusterUnavailable,
  startRedisCluster,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { apiKeyMirrorConformance } from './api-key-mirror.conformance';
import { rateLimitCountersConformance } from './rate-limit-counters.conformance';

// The two stores behind the security plugin (keys/auth.ts), run in one file so the cluster run starts one cluster.

describe('API key mirror and rate-limit counters on a standalone Redis', () => {
  let infra: TestInfra;
  beforeAll(async () => {
    infra = await createTestInfra('cache-auth-stores');
  });
  afterAll(async () => {
    await infra?.close();
  });
  const backend = () => ({
    keys: infra.keys,
    redis: infra.redis,
    connect: () => createRedisClient({ url: infra.redisUrl }),
  });
  describe('API key mirror', () => apiKeyMirrorConformance(backend));
  describe('rate-limit counters', () => rateLimitCountersConformance(backend));
});

const clusterMissing = redisClusterUnavailable();

describe.skipIf(clusterMissing !== null)(
  `API key mirror and rate-limit counters on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    const keys = createKeys('test:cache-auth-stores-cluster:');
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
    const backend = () => ({
      keys,
      redis,
      connect: () => createRedisClient({ url: '', clusterNodes: cluster.nodes }),
    });
    describe('API key mirror', () => apiKeyMirrorConformance(backend));
    describe('rate-limit counters', () => rateLimitCountersConformance(backend));
  },
);
