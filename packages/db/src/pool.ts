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
  /** server side: Postgres cancels a statement running longer (SQLSTATE 57014) and ends its work */
  statementTimeoutMs?: number;
  /**
   * client side: a query unanswered this long fails with `Query read timeout` and its connection is closed, so a
   * connection that stopped answering (half-open, a stalled server) gives its pool slot back and lets `pool.end()`
   * finish; keepalive alone takes minutes to notice, and never while the peer's kernel still answers. Keep it
   * above `statementTimeoutMs`: a statement that is only slow is then cancelled by the server, which stops it.
   * Not for a pool that COPYs out: pg-copy-streams' COPY TO never stops pg's timer, which fails the stream late.
   */
  queryTimeoutMs?: number;
  /** server side: Postgres ends a session idle inside a transaction this long, releasing what it locked */
  idleInTransactionTimeoutMs?: number;
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
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
    ...(options.idleInTransactionTimeoutMs
      ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs }
      : {}),
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

/**
 * A connection with `pool`'s settings but outside it, for a session held for a long time (a lock kept for a whole
 * build): it takes none of the pool's connections, so work on a pool of any size goes on beside it. `end()` it.
 */
export async function connectOwnClient(pool: Pool): Promise<pg.Client> {
  const client = new pg.Client(pool.options);
  client.on('error', endedWhileCheckedOut);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return client;
}

/** pg's error for a query unanswered within `query_timeout`: its connection may still be busy with it. */
export function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

/**
 * ROLLBACK after `error` ended a transaction early, unless the error is a timed-out statement: the connection is
 * still busy with it, so a ROLLBACK would wait a whole time limit more behind it. Either way `releaseClient` then
 * closes a client still inside the transaction.
 */
export async function rollBack(client: PoolClient, error: unknown): Promise<void> {
  if (!isQueryTimeout(error)) await client.query('ROLLBACK').catch(() => {});
}

/**
 * Gives a client from `connectClient` back to the pool (`discard`: close its connection instead). A client still
 * inside a transaction (its ROLLBACK failed or was skipped) is closed too: pooled, it would run the next user's
 * statements in that transaction, which nothing ever commits.
 */
export function releaseClient(client: PoolClient, discard = false): void {
  client.off('error', endedWhileCheckedOut);
  const status = client.getTransactionStatus();
  client.release(discard || status === 'T' || status === 'E');
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
    await rollBack(client, error);
    throw error;
  } finally {
    releaseClient(client);
  }
}

/**
 * A statement with its own client-side time limit, for the few that rightly outlast a pool's `queryTimeoutMs`
 * (pg reads `query_timeout` from the query's config before the pool's; its types omit it).
 */
export const withQueryTimeout = (text: string, values: unknown[], queryTimeoutMs: number): pg.QueryConfig =>
  ({ text, values, query_timeout: queryTimeoutMs }) as pg.QueryConfig;

/** True when Postgres answers a trivial query within the pool's connect timeout (and query time limit, if any). */
export async function pingDatabase(pool: Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
