import { randomBytes } from 'node:crypto';
import { createDatabaseFromTemplate, createPool, dropDatabase, type Pool } from '@elevens/db';
import {
  createKeys,
  createRedis,
  deleteKeysWithPrefix,
  type Redis,
  type RedisKeys,
} from '@elevens/redis-stores';
import { inject } from 'vitest';

export {
  type DatasetFixtureOptions,
  sharedDataFile,
  writeMovielensFixture,
  writeTaobaoFixture,
} from './dataset-fixtures';
export { createLogSink, type LogEntry, type LogSink } from './log-sink';
export { type RedisClusterFixture, redisClusterUnavailable, startRedisCluster } from './redis-cluster';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A Postgres server URL whose user may create databases. */
    pgServerUrl: string;
    /** A migrated database that test databases are copied from. */
    pgTemplateDatabase: string;
    redisUrl: string;
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

/** A migrated database and a Redis key prefix of this test file's own, so files run in parallel safely. */
export async function createTestInfra(label = 'test'): Promise<TestInfra> {
  const serverUrl = inject('pgServerUrl');
  const suffix = randomBytes(4).toString('hex');
  const dbName = `elevens_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${suffix}`;
  const databaseUrl = await createDatabaseFromTemplate(serverUrl, dbName, inject('pgTemplateDatabase'));
  const redisUrl = inject('redisUrl');
  const keyPrefix = `test:${label}:${suffix}:`;
  const pool = createPool(databaseUrl, { max: 5 });
  const redis = createRedis(redisUrl);
  return {
    databaseUrl,
    redisUrl,
    keyPrefix,
    pool,
    redis,
    keys: createKeys(keyPrefix),
    env: {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: keyPrefix,
      LOG_LEVEL: 'warn',
      AUTH_REQUIRED: 'false',
      // Load shedding answers 503 whenever the machine running the tests is busy (a build in the same process,
      // other jobs): off, so no outcome depends on load. Tests of shedding set their own thresholds.
      PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
      PRESSURE_MAX_HEAP_USED_RATIO: '0',
    },
    async close() {
      await pool.end();
      await deleteKeysWithPrefix(redis, keyPrefix);
      redis.disconnect();
      await dropDatabase(serverUrl, dbName);
    },
  };
}
