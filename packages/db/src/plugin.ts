import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { apiKeySource } from './api-keys';
import { RollupWriter } from './attribution';
import { EventLog } from './events';
import { createPool, type PoolOptions } from './pool';
import {
  BoostRuleStore,
  CatalogItems,
  EventPartitions,
  ExperimentStore,
  ModelRunLog,
  type PostgresHealth,
  PushConfigStore,
  postgresHealthOf,
  RollupStore,
  UserStore,
} from './stores/index';

declare module 'fastify' {
  interface FastifyInstance {
    /** the pool's ping, error events and port, for the readiness check and the metrics */
    postgresHealth: PostgresHealth;
    /** the active API keys, for the security plugin */
    apiKeys: ReturnType<typeof apiKeySource>;
    catalogItems: CatalogItems;
    boostRuleStore: BoostRuleStore;
    pushConfigStore: PushConfigStore;
    experimentStore: ExperimentStore;
    rollups: RollupStore;
    modelRuns: ModelRunLog;
    users: UserStore;
    eventPartitions: EventPartitions;
    /** the event log as ingest writes it (idempotency keys and the partitioned events) */
    eventLog: EventLog;
    /** the attribution roll-ups as the ingest worker advances them */
    rollupWriter: RollupWriter;
  }
}

export interface DbPluginOptions extends PoolOptions {
  databaseUrl: string;
}

/**
 * The serving processes' bounds on Postgres (the batch commands' pools have none: a build's COPY, a migration or an
 * import may rightly run for minutes). A request waiting longer than HAProxy's 30 s (docker/haproxy.cfg) has been
 * answered by it already, so a statement still running at 20 s serves no one: Postgres cancels it (a 503). A
 * connection silent for 25 s has stopped answering: it is closed, freeing its pool slot and the shutdown. A session
 * idle inside a transaction for a minute belongs to a process that stalled or vanished: Postgres ends it, and the
 * locks it held (the boost-rule and push-config writers' among them) stop blocking the other processes.
 */
const SERVING_STATEMENT_TIMEOUT_MS = 20_000;
const SERVING_QUERY_TIMEOUT_MS = 25_000;
const SERVING_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

/**
 * Decorates the Postgres stores, each owning its SQL, built on one pool that no one else sees, and ends the pool
 * when the app closes.
 */
export const dbPlugin = fp(
  async (app: FastifyInstance, options: DbPluginOptions) => {
    const pool = createPool(options.databaseUrl, {
      statementTimeoutMs: SERVING_STATEMENT_TIMEOUT_MS,
      queryTimeoutMs: SERVING_QUERY_TIMEOUT_MS,
      idleInTransactionTimeoutMs: SERVING_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      ...options,
    });
    app.decorate('postgresHealth', postgresHealthOf(pool));
    app.decorate('apiKeys', apiKeySource(pool));
    app.decorate('catalogItems', new CatalogItems(pool));
    app.decorate('boostRuleStore', new BoostRuleStore(pool));
    app.decorate('pushConfigStore', new PushConfigStore(pool));
    app.decorate('experimentStore', new ExperimentStore(pool));
    app.decorate('rollups', new RollupStore(pool));
    app.decorate('modelRuns', new ModelRunLog(pool));
    app.decorate('users', new UserStore(pool));
    app.decorate('eventPartitions', new EventPartitions(pool));
    app.decorate('eventLog', new EventLog(pool));
    app.decorate('rollupWriter', new RollupWriter(pool));
    app.addHook('onClose', async () => {
      await pool.end();
    });
  },
  { name: 'elevens-db', fastify: '5.x' },
);
