import { cachePlugin, pingRedis } from '@elevens/cache';
import { dbPlugin, pingDatabase } from '@elevens/db';
import { createBaseApp, healthRoutes, type LoggingOptions } from '@elevens/http';
import type { ApiConfig } from './config';
import { catalogPlugin } from './plugins/catalog';
import { modelPlugin } from './plugins/model';
import { recommendationRoutes } from './routes/recommendations';

export interface ApiAppOptions {
  config: ApiConfig;
  logging?: Partial<LoggingOptions>;
}

/** The API service as a Fastify instance (not listening): tests use `inject()`, server.ts listens. */
export async function buildApiApp({ config, logging }: ApiAppOptions) {
  const app = createBaseApp({ logging: { level: config.LOG_LEVEL, ...logging } });
  await app.register(dbPlugin, {
    databaseUrl: config.DATABASE_URL,
    max: config.PG_POOL_SIZE,
    applicationName: 'elevens-api',
  });
  await app.register(cachePlugin, {
    redisUrl: config.REDIS_URL,
    keyPrefix: config.REDIS_KEY_PREFIX,
    connectionName: 'elevens-api',
    failFast: true,
  });
  await app.register(healthRoutes, {
    checks: { postgres: () => pingDatabase(app.pg), redis: () => pingRedis(app.redis) },
  });
  await app.register(modelPlugin, {
    pollMs: config.MODEL_POLL_MS,
    cacheEntries: config.NEIGHBOR_CACHE_ENTRIES,
  });
  await app.register(catalogPlugin, { pollMs: config.MODEL_POLL_MS });
  await app.register(recommendationRoutes, {
    historyLength: config.RECS_HISTORY_LENGTH,
    maxAnchors: config.RECS_MAX_ANCHORS,
    historyHalfLifeMs: config.RECS_HISTORY_HALF_LIFE_HOURS * 3_600_000,
    maxPerCategory: config.RECS_MAX_PER_CATEGORY,
  });
  return app;
}

export type ApiApp = Awaited<ReturnType<typeof buildApiApp>>;
