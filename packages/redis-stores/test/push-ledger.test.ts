import { createKeys, createRedisClient, deleteKeysWithPrefix, type RedisClient } from '@elevens/redis-stores';
import {
  createTestInfra,
  type RedisClusterFixture,
  redisClusterUnavailable,
  startRedisCluster,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { type LedgerBackend, pushLedgerConformance } from './push-ledger.conformance';

describe('push ledger on a standalone Redis', () => {
  let infra: TestInfra;
  beforeAll(async () => {
    infra = await createTestInfra('cache-push-ledger');
  });
  afterAll(async () => {
    await infra?.close();
  });
  pushLedgerConformance(
    (): LedgerBackend => ({
      keys: infra.keys,
      redis: infra.redis,
      connect: () => createRedisClient({ url: infra.redisUrl }),
      slotOf: () => Promise.reject(new Error('a standalone server has no slots')),
    }),
    { turnBatch: true, cluster: false },
  );
});

const clusterMissing = redisClusterUnavailable();

describe.skipIf(clusterMissing !== null)(
  `push ledger on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    const keyPrefix = 'test:cache-push-ledger-cluster:';
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
    pushLedgerConformance(
      (): LedgerBackend => ({
        keys: createKeys(keyPrefix),
        redis,
        connect: () => createRedisClient({ url: '', clusterNodes: cluster.nodes }),
        slotOf: async (key) => Number(await redis.call('CLUSTER', 'KEYSLOT', key)),
      }),
      { turnBatch: true, cluster: true },
    );
  },
);
