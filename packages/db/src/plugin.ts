import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { apiKeySource } from './api-keys';
import { createPool, type Pool, type PoolOptions } from './pool';
import {
  BoostRuleStore,
  CatalogItems,
  EventPartitions,
  ExperimentStore,
  ModelRunLog,
  PushConfigStore,
  RollupStore,
  UserStore,
} from './stores/index';

declare module 'fastify' {
  interface FastifyInstance {
    /** The process's one Postgres pool: for the stores below and for health and metrics, not for queries. */
    pg: Pool;
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
  }
}

export interface DbPluginOptions extends PoolOptions {
  databaseUrl: string;
}

/**
 * Decorates `fastify.pg` with a pool and the Postgres stores built on it (each owns its SQL), and ends the pool
 * when the app closes.
 */
export const dbPlugin = fp(
  async (app: FastifyInstance, options: DbPluginOptions) => {
    const pool = createPool(options.databaseUrl, options);
    app.decorate('pg', pool);
    app.decorate('apiKeys', apiKeySource(pool));
    app.decorate('catalogItems', new CatalogItems(pool));
    app.decorate('boostRuleStore', new BoostRuleStore(pool));
    app.decorate('pushConfigStore', new PushConfigStore(pool));
    app.decorate('experimentStore', new ExperimentStore(pool));
    app.decorate('rollups', new RollupStore(pool));
    app.decorate('modelRuns', new ModelRunLog(pool));
    app.decorate('users', new UserStore(pool));
    app.decorate('eventPartitions', new EventPartitions(pool));
    app.addHook('onClose', async () => {
      await pool.end();
    });
  },
  { name: 'elevens-db', fastify: '5.x' },
);
