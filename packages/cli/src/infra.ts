import { createPool, type Pool, type PoolClient } from '@elevens/db';
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
import { openPostgres, postgresUnreachable } from './postgres';
import { UserError } from './run';

/** Where a command's stores are: Postgres, and Redis by REDIS_URL or REDIS_CLUSTER_NODES (which wins). */
export interface StoreEnv {
  DATABASE_URL: string;
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: readonly { host: string; port: number }[] | undefined;
}

/**
 * Fails with one line naming the unreachable service and how to start it. A database DATABASE_URL names that does
 * not exist is refused (a typo would otherwise leave a stray empty one); `createDatabase` (migrate and demo pass
 * @elevens/db/migrate's `ensureDatabase`, which they load anyway, so other commands load no migrations runner)
 * creates it.
 */
export async function requireServices(
  config: StoreEnv,
  { createDatabase }: { createDatabase?: (databaseUrl: string) => Promise<unknown> } = {},
): Promise<void> {
  const databaseUrl = config.DATABASE_URL;
  if (createDatabase) {
    try {
      await createDatabase(databaseUrl);
    } catch (error) {
      throw postgresUnreachable(databaseUrl, error);
    }
  } else {
    await (await openPostgres(databaseUrl)).end();
  }
  await requireRedis(config);
}

/** Fails with one line when Redis (REDIS_URL, or REDIS_CLUSTER_NODES) does not answer: for Redis-only commands. */
export async function requireRedis(config: Omit<StoreEnv, 'DATABASE_URL'>): Promise<void> {
  const connection = redisConnectionOf(config);
  const redis = createRedisClient(connection, { failFast: true });
  // A Redis that is there but slow (LOADING) gets 3 s; a refused connection or unknown host is answered at once.
  const up = (await waitUntilReady(redis, 3_000, { untilNothingThere: true })) && (await pingRedis(redis));
  redis.disconnect();
  if (!up) {
    throw new UserError(
      `Redis is not reachable at ${describeRedisConnection(connection)}. Start it (docker compose up -d redis, or redis-server --daemonize yes) or set REDIS_URL (or REDIS_CLUSTER_NODES).`,
    );
  }
}

export interface BatchInfra {
  pool: Pool;
  redis: RedisClient;
  keys: RedisKeys;
  /**
   * Closes the Redis connection and the Postgres connections in use now, without waiting for any answer: what
   * waits on them fails at once (a stalled COPY or publish), and the pool connects afresh for the next query.
   */
  cut(): void;
  close(): Promise<void>;
}

export function openBatchInfra(config: StoreEnv & { REDIS_KEY_PREFIX: string }): BatchInfra {
  const pool = createPool(config.DATABASE_URL, { applicationName: 'elevens-cli' });
  const redis = createRedisClient(redisConnectionOf(config), { connectionName: 'elevens-cli' });
  const inUse = new Set<PoolClient>();
  pool.on('acquire', (client) => inUse.add(client));
  pool.on('release', (_error, client) => inUse.delete(client));
  return {
    pool,
    redis,
    keys: createKeys(config.REDIS_KEY_PREFIX),
    cut() {
      redis.disconnect();
      // A client ended during a query drops its socket at once; the pool discards it when it is released.
      for (const client of inUse) client.end().catch(() => {});
      inUse.clear();
    },
    async close() {
      await pool.end();
      redis.disconnect();
    },
  };
}
