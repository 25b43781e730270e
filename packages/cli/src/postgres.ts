import { createPool, type Pool } from '@elevens/db';
import { UserError } from './run';

// Apart from infra.ts, which adds Redis: a command that needs Postgres only loads no Redis client.

const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');

/** Postgres' invalid_catalog_name: the server answers, the database is not there. */
const NO_SUCH_DATABASE = '3D000';

/** The database a connection to `databaseUrl` opens: without one named, pg opens the user's. */
const databaseNameOf = (databaseUrl: string) => {
  const url = new URL(databaseUrl);
  return decodeURIComponent(url.pathname.slice(1) || url.username);
};

/** The one line saying why Postgres at `databaseUrl` failed `error`: no such database, or not reachable. */
export const postgresUnreachable = (databaseUrl: string, error: unknown) =>
  new UserError(
    (error as { code?: unknown }).code === NO_SUCH_DATABASE
      ? `database "${databaseNameOf(databaseUrl)}" does not exist: check DATABASE_URL, or run elevens migrate to create it`
      : `Postgres is not reachable at ${redact(databaseUrl)} (${(error as Error).message}). Start it (docker compose up -d postgres, or pg_ctlcluster <version> main start) or set DATABASE_URL.`,
  );

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
