import { randomBytes } from 'node:crypto';
import {
  createKeys,
  createRedisClient,
  deleteKeysWithPrefix,
  type RedisClient,
  type RedisKeys,
  serversOf,
} from '@elevens/redis-stores';
import {
  createTestInfra,
  type RedisClusterAddress,
  redisClusterUnavailable,
  sharedRedisCluster,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe } from 'vitest';

/** One Redis backend a store's conformance suite runs on, under the test file's own key prefix. */
export interface RedisBackend {
  keys: RedisKeys;
  redis: RedisClient;
  /** a second client of the same backend (another process's view) */
  connect(): RedisClient;
  /** the Redis Cluster slot of a key (CLUSTER KEYSLOT); a standalone server has none and rejects */
  slotOf(key: string): Promise<number>;
  /** how many masters hold a key under `prefix` (SCAN sees one node's keys); a standalone server rejects */
  mastersHolding(prefix: string): Promise<number>;
}

const standaloneOnly = () => Promise.reject(new Error('a standalone server has no slots or masters'));

async function holdsKeyUnder(server: RedisClient, prefix: string): Promise<boolean> {
  let cursor = '0';
  do {
    const [next, found] = await server.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (found.length > 0) return true;
    cursor = next;
  } while (cursor !== '0');
  return false;
}

/**
 * Runs a store's conformance suite on every backend a Redis store supports: a standalone Redis and the local
 * three-master Redis Cluster the test run shares (skipped, saying why, when `redis-server` is not on the PATH).
 * `label` names the file's database and key prefixes.
 */
export function describeOnEveryBackend(
  store: string,
  label: string,
  suite: (backend: () => RedisBackend, options: { cluster: boolean }) => void,
): void {
  describe(`${store} on a standalone Redis`, () => {
    let infra: TestInfra;
    beforeAll(async () => {
      infra = await createTestInfra(label);
    });
    afterAll(async () => {
      await infra?.close();
    });
    suite(
      () => ({
        keys: infra.keys,
        redis: infra.redis,
        connect: () => createRedisClient({ url: infra.redisUrl }),
        slotOf: standaloneOnly,
        mastersHolding: standaloneOnly,
      }),
      { cluster: false },
    );
  });

  const clusterMissing = redisClusterUnavailable();
  describe.skipIf(clusterMissing !== null)(
    `${store} on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
    () => {
      // Other files run on the same cluster at the same time: this one's keys lie under a prefix of its own.
      const keys = createKeys(`test:${label}-cluster:${randomBytes(4).toString('hex')}:`);
      let cluster: RedisClusterAddress;
      let redis: RedisClient;
      beforeAll(() => {
        cluster = sharedRedisCluster();
        redis = createRedisClient({ url: '', clusterNodes: cluster.nodes });
      });
      afterAll(async () => {
        if (redis) {
          await deleteKeysWithPrefix(redis, keys.prefix);
          redis.disconnect();
        }
      });
      suite(
        () => ({
          keys,
          redis,
          connect: () => createRedisClient({ url: '', clusterNodes: cluster.nodes }),
          slotOf: async (key) => Number(await redis.call('CLUSTER', 'KEYSLOT', key)),
          mastersHolding: async (prefix) =>
            (await Promise.all(serversOf(redis).map((server) => holdsKeyUnder(server, prefix)))).filter(
              Boolean,
            ).length,
        }),
        { cluster: true },
      );
    },
  );
}
