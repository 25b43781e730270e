import { randomBytes } from 'node:crypto';
import { createPool, type Pool } from '@elevens/db';
import { createDatabaseFromTemplate, dropDatabase } from '@elevens/db/migrate';
import {
  createKeys,
  createRedis,
  createRedisClient,
  deleteKeysWithPrefix,
  type Redis,
  type RedisClient,
  type RedisKeys,
} from '@elevens/redis-stores';
import { inject } from 'vitest';
import { type RedisClusterAddress, redisClusterUnavailable, startRedisCluster } from './redis-cluster';

export { type AttributedEvent, storeAttributedEvents } from './attributed-events';
export {
  type DatasetFixtureOptions,
  sharedDataFile,
  writeMovielensFixture,
  writeTaobaoFixture,
} from './dataset-fixtures';
export { createLogSink, type LogEntry, type LogSink } from './log-sink';
export { metricSample } from './metrics-text';
export { rawExchange } from './raw-exchange';
export {
  freePort,
  type RedisClusterAddress,
  type RedisClusterFixture,
  redisClusterUnavailable,
  startRedisCluster,
} from './redis-cluster';
export { startTcpProxy, type TcpProxy } from './tcp-proxy';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A Postgres server URL whose user may create databases. */
    pgServerUrl: string;
    /** A migrated database that test databases are copied from. */
    pgTemplateDatabase: string;
    redisUrl: string;
    /** the local Redis Cluster the run shares; null where `redisClusterUnavailable()` says why not */
    redisCluster: RedisClusterAddress | null;
  }
}

export interface TestInfra {
  databaseUrl: string;
  redisUrl: string;
  keyPrefix: string;
  pool: Pool;
  redis: Redis;
  keys: RedisKeys;
  /** Environment for a process under test, pointing at this file's database and key prefix. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A migrated database of this test file's own, copied from the template, and a key prefix of its own. */
async function createTestDatabase(label: string) {
  const serverUrl = inject('pgServerUrl');
  const suffix = randomBytes(4).toString('hex');
  const dbName = `elevens_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${suffix}`;
  const databaseUrl = await createDatabaseFromTemplate(serverUrl, dbName, inject('pgTemplateDatabase'));
  return {
    databaseUrl,
    keyPrefix: `test:${label}:${suffix}:`,
    pool: createPool(databaseUrl, { max: 5 }),
    drop: () => dropDatabase(serverUrl, dbName),
  };
}

/** Environment for a process under test, pointing at `databaseUrl` and the key prefix, with `redis` variables. */
const testEnv = (databaseUrl: string, keyPrefix: string, redis: Record<string, string>) => ({
  DATABASE_URL: databaseUrl,
  ...redis,
  REDIS_KEY_PREFIX: keyPrefix,
  LOG_LEVEL: 'warn',
  AUTH_REQUIRED: 'false',
  // Load shedding answers 503 whenever the machine running the tests is busy (a build in the same process,
  // other jobs): off, so no outcome depends on load. Tests of shedding set their own thresholds.
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
  PRESSURE_MAX_HEAP_USED_RATIO: '0',
});

/** A migrated database and a Redis key prefix of this test file's own, so files run in parallel safely. */
export async function createTestInfra(label = 'test'): Promise<TestInfra> {
  const { databaseUrl, keyPrefix, pool, drop } = await createTestDatabase(label);
  const redisUrl = inject('redisUrl');
  const redis = createRedis(redisUrl);
  return {
    databaseUrl,
    redisUrl,
    keyPrefix,
    pool,
    redis,
    keys: createKeys(keyPrefix),
    env: testEnv(databaseUrl, keyPrefix, { REDIS_URL: redisUrl }),
    async close() {
      await pool.end();
      await deleteKeysWithPrefix(redis, keyPrefix);
      redis.disconnect();
      await drop();
    },
  };
}

/**
 * The local three-master Redis Cluster the whole test run shares, started by the global setup
 * (tests/support/global-setup.ts) and stopped after the run. Files keep apart by key prefix: none may flush a
 * node or change its settings (a file that must starts its own, `startRedisCluster`). Check
 * `redisClusterUnavailable()` first.
 */
export function sharedRedisCluster(): RedisClusterAddress {
  const cluster = inject('redisCluster');
  if (cluster === null)
    throw new Error(redisClusterUnavailable() ?? 'the global setup started no Redis Cluster');
  return cluster;
}

/** A test file's own database and key prefix on a local Redis Cluster, which `env` names in REDIS_CLUSTER_NODES. */
export interface ClusterTestInfra {
  databaseUrl: string;
  keyPrefix: string;
  pool: Pool;
  cluster: RedisClusterAddress;
  /** an ioredis Cluster client of `cluster` */
  redis: RedisClient;
  keys: RedisKeys;
  /** Environment for a process under test: this file's database, key prefix and cluster. */
  env: Record<string, string>;
  /** Ends the pool, deletes the file's keys (or stops its own cluster) and drops the database. */
  close(): Promise<void>;
}

/**
 * As `createTestInfra`, on the run's shared Redis Cluster (`sharedRedisCluster`; check `redisClusterUnavailable()`
 * first), or with `ownCluster` on one started for this file, whose nodes' settings it may change (maxmemory): the
 * processes under test get REDIS_CLUSTER_NODES, which wins over REDIS_URL.
 */
export async function createClusterTestInfra(
  label = 'test',
  options: { ownCluster?: boolean } = {},
): Promise<ClusterTestInfra> {
  const own = options.ownCluster ? await startRedisCluster() : null;
  const cluster = own ?? sharedRedisCluster();
  const database = await createTestDatabase(label).catch(async (error: unknown) => {
    await own?.stop();
    throw error;
  });
  const { databaseUrl, keyPrefix, pool, drop } = database;
  const redis = createRedisClient({ url: '', clusterNodes: cluster.nodes });
  return {
    databaseUrl,
    keyPrefix,
    pool,
    cluster,
    redis,
    keys: createKeys(keyPrefix),
    // REDIS_URL points nowhere: a process that ignored REDIS_CLUSTER_NODES would fail instead of passing unseen.
    env: testEnv(databaseUrl, keyPrefix, {
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_CLUSTER_NODES: cluster.seeds,
    }),
    async close() {
      await pool.end();
      if (own === null) await deleteKeysWithPrefix(redis, keyPrefix);
      redis.disconnect();
      await own?.stop();
      await drop();
    },
  };
}
