import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

// bigint (int8) and numeric arrive as strings by default; the values Elevens stores in them fit a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  statementTimeoutMs?: number;
}

/** One pool per process. */
export function createPool(databaseUrl: string, options: PoolOptions = {}): Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'elevens',
    connectionTimeoutMillis: 5_000,
    // A server that vanishes without closing its connections (a host down, a network partition) leaves a query
    // waiting forever on a socket without keepalive; with it the kernel finds the peer gone and the query fails.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  // An idle client that loses its server connection emits here; without a listener the process would crash.
  pool.on('error', () => {});
  return pool;
}

/**
 * When Postgres ends the connection of a checked-out client (a restart, a failover), the query in flight fails
 * and the client also emits 'error'. The pool listens for that only while the client is idle: unheard, the error
 * would end the process. Clients held for a transaction or a COPY listen from `connectClient` to `releaseClient`;
 * the failed query reports the error, and the pool discards the ended client on release.
 */
const endedWhileCheckedOut = () => {};

/** `pool.connect()` for a client held across several queries; give it back with `releaseClient`. */
export async function connectClient(pool: Pool): Promise<PoolClient> {
  const client = await pool.connect();
  client.on('error', endedWhileCheckedOut);
  return client;
}

/** Gives a client from `connectClient` back to the pool (`discard`: close its connection instead). */
export function releaseClient(client: PoolClient, discard = false): void {
  client.off('error', endedWhileCheckedOut);
  client.release(discard);
}

/** Runs `fn` in a transaction on one client; rolls back on any error. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await connectClient(pool);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    releaseClient(client);
  }
}

/** True when Postgres answers a trivial query within the pool's connect timeout. */
export async function pingDatabase(pool: Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
