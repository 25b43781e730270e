import { cachePlugin, pingRedis } from '@elevens/cache';
import { dbPlugin, pingDatabase } from '@elevens/db';
import { createBaseApp, healthRoutes, type LoggingOptions } from '@elevens/http';
import type { IngestConfig } from './config';
import { eventRoutes } from './routes/events';
import { itemRoutes } from './routes/items';
import { userRoutes } from './routes/users';

export interface IngestAppOptions {
  config: IngestConfig;
  logging?: Partial<LoggingOptions>;
}

/** The ingest service as a Fastify instance (not listening): tests use `inject()`, server.ts listens. */
export async function buildIngestApp({ config, logging }: IngestAppOptions) {
  const app = createBaseApp({
    logging: { level: config.LOG_LEVEL, ...logging },
    bodyLimit: config.INGEST_BODY_LIMIT_BYTES,
  });
  await app.register(dbPlugin, {
    databaseUrl: config.DATABASE_URL,
    max: config.PG_POOL_SIZE,
    applicationName: 'elevens-ingest',
  });
  await app.register(cachePlugin, {
    redisUrl: config.REDIS_URL,
    keyPrefix: config.REDIS_KEY_PREFIX,
    connectionName: 'elevens-ingest',
  });
  await app.register(healthRoutes, {
    checks: { postgres: () => pingDatabase(app.pg), redis: () => pingRedis(app.redis) },
  });
  await app.register(eventRoutes);
  await app.register(itemRoutes);
  await app.register(userRoutes);
  return app;
}

export type IngestApp = Awaited<ReturnType<typeof buildIngestApp>>;
