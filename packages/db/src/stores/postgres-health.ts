import { type Pool, pingDatabase } from '../pool';

/** What the readiness check and the metrics know of the Postgres pool. */
export interface PostgresHealth {
  /** true when Postgres answers a trivial query within the pool's connect timeout */
  ping(): Promise<boolean>;
  /** calls `listener` on each error an idle client of the pool reports (a lost server connection) */
  onError(listener: (error: Error) => void): void;
  /** the port the pool connects to (a socket error naming it is Postgres's); undefined when its URL names none */
  readonly port: number | undefined;
}

function portOf(connectionString: string | undefined): number | undefined {
  if (connectionString === undefined) return undefined;
  try {
    const port = new URL(connectionString).port;
    return port === '' ? undefined : Number(port);
  } catch {
    return undefined;
  }
}

export function postgresHealthOf(pool: Pool): PostgresHealth {
  return {
    ping: () => pingDatabase(pool),
    onError(listener) {
      pool.on('error', listener);
    },
    port: pool.options.port ?? portOf(pool.options.connectionString),
  };
}
