import { createPool, ensureDatabase, migrate, type Pool } from '@elevens/db';
import {
  createKeys,
  createRedisClient,
  describeRedisConnection,
  pingRedis,
  type RedisClient,
  type RedisKeys,
  redisConnectionOf,
  waitUntilReady,
} from '@elevens/redis-stores';
import { UserError } from './run';

const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');

/** Where a command's stores are: Postgres, and Redis by REDIS_URL or REDIS_CLUSTER_NODES (which wins). */
export interface StoreEnv {
  DATABASE_URL: string;
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: readonly { host: string; port: number }[] | undefined;
}

/** Fails with one line naming the unreachable service and how to start it. */
export async function requireServices(config: StoreEnv): Promise<void> {
  const databaseUrl = config.DATABASE_URL;
  try {
    await ensureDatabase(databaseUrl);
  } catch (error) {
    throw new UserError(
      `Postgres is not reachable at ${redact(databaseUrl)} (${(error as Error).message}). Start it (docker compose up -d postgres, or pg_ctlcluster <version> main start) or set DATABASE_URL.`,
    );
  }
  const connection = redisConnectionOf(config);
  const redis = createRedisClient(connection, { failFast: true });
  const up = (await waitUntilReady(redis, 3_000)) && (await pingRedis(redis));
  redis.disconnect();
  if (!up) {
    throw new UserError(
      `Redis is not reachable at ${describeRedisConnection(connection)}. Start it (docker compose up -d redis, or redis-server --daemonize yes) or set REDIS_URL (or REDIS_CLUSTER_NODES).`,
    );
  }
}

export async function migrateDatabase(databaseUrl: string, log: (line: string) => void): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  return migrate(databaseUrl, log);
}

export interface BatchInfra {
  pool: Pool;
  redis: RedisClient;
  keys: RedisKeys;
  close(): Promise<void>;
}

export function openBatchInfra(config: StoreEnv & { REDIS_KEY_PREFIX: string }): BatchInfra {
  const pool = createPool(config.DATABASE_URL, { applicationName: 'elevens-cli' });
  const redis = createRedisClient(redisConnectionOf(config), { connectionName: 'elevens-cli' });
  return {
    pool,
    redis,
    keys: createKeys(config.REDIS_KEY_PREFIX),
    async close() {
      await pool.end();
      redis.disconnect();
    },
  };
}
