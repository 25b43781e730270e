import { createPool, ensureDatabase, migrate, type Pool, type PoolClient } from '@elevens/db';
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

/** Postgres' invalid_catalog_name: the server answers, the database is not there. */
const NO_SUCH_DATABASE = '3D000';

/** The database a connection to `databaseUrl` opens: without one named, pg opens the user's. */
const databaseNameOf = (databaseUrl: string) => {
  const url = new URL(databaseUrl);
  return decodeURIComponent(url.pathname.slice(1) || url.username);
};

const postgresUnreachable = (databaseUrl: string, error: unknown) =>
  new UserError(
    (error as { code?: unknown }).code === NO_SUCH_DATABASE
      ? `database "${databaseNameOf(databaseUrl)}" does not exist: check DATABASE_URL, or run elevens migrate to create it`
      : `Postgres is not reachable at ${redact(databaseUrl)} (${(error as Error).message}). Start it (docker compose up -d postgres, or pg_ctlcluster <version> main start) or set DATABASE_URL.`,
  );

/**
 * Fails with one line naming the unreachable service and how to start it. A database DATABASE_URL names that does
 * not exist is refused (a typo would otherwise leave a stray empty one); `createDatabase` (migrate, demo) creates it.
 */
export async function requireServices(
  config: StoreEnv,
  { createDatabase = false }: { createDatabase?: boolean } = {},
): Promise<void> {
  const databaseUrl = config.DATABASE_URL;
  if (createDatabase) {
    try {
      await ensureDatabase(databaseUrl);
    } catch (error) {
      throw postgresUnreachable(databaseUrl, error);
    }
  } else {
    await (await openPostgres(databaseUrl)).end();
  }
  await requireRedis(config);
}

/**
 * A pool of DATABASE_URL once Postgres answers there (one line otherwise): for commands that use Postgres only,
 * which would otherwise refuse to run while a Redis they never touch is down.
 */
export async function openPostgres(databaseUrl: string): Promise<Pool> {
  const pool = createPool(databaseUrl, { applicationName: 'elevens-cli' });
  try {
    await requirePostgres(pool, databaseUrl);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return pool;
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

/**
 * Fails with one line when `pool` cannot connect to DATABASE_URL (server down, no such database, refused login):
 * for commands that need Postgres only and a migrated one.
 */
export async function requirePostgres(pool: Pool, databaseUrl: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    throw postgresUnreachable(databaseUrl, error);
  }
}

/**
 * Fails with one line when Postgres answers that DATABASE_URL's database does not exist: for the services, which
 * otherwise start and keep retrying a database no migrate made. Any other failure is left to the service, which
 * starts while Postgres is down (docs/security.md).
 */
export async function refuseMissingDatabase(databaseUrl: string): Promise<void> {
  const pool = createPool(databaseUrl, { max: 1, applicationName: 'elevens-cli' });
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    if ((error as { code?: unknown }).code === NO_SUCH_DATABASE)
      throw postgresUnreachable(databaseUrl, error);
  } finally {
    await pool.end();
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
