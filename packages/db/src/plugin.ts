import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createPool, type Pool, type PoolOptions } from './pool';

declare module 'fastify' {
  interface FastifyInstance {
    /** The process's one Postgres pool. */
    pg: Pool;
  }
}

export interface DbPluginOptions extends PoolOptions {
  databaseUrl: string;
}

/** Decorates `fastify.pg` with a pool and ends it when the app closes. */
export const dbPlugin = fp(
  async (app: FastifyInstance, options: DbPluginOptions) => {
    const pool = createPool(options.databaseUrl, options);
    app.decorate('pg', pool);
    app.addHook('onClose', async () => {
      await pool.end();
    });
  },
  { name: 'elevens-db', fastify: '5.x' },
);
