import { dbPlugin } from '@elevens/db';
import {
  type ClientTimeouts,
  createBaseApp,
  docsPlugin,
  healthRoutes,
  type LoggingOptions,
  logPrivacyFromConfig,
  metricsPlugin,
  securityPlugin,
} from '@elevens/http';
import { cachePlugin } from '@elevens/redis-stores';
import type { IngestConfig } from './config';
import { attributionPlugin, attributionSettingsFrom } from './plugins/attribution';
import { eventWriterPlugin } from './plugins/event-writer';
import { partitionMaintenancePlugin } from './plugins/partition-maintenance';
import { eventRoutes } from './routes/events';
import { itemRoutes } from './routes/items';
import { userRoutes } from './routes/users';

export interface IngestAppOptions {
  config: IngestConfig;
  logging?: Partial<LoggingOptions>;
  /** the clock events are received by (epoch ms; default `Date.now`): tests fix it */
  now?: () => number;
  /** the slow-client bounds (createBaseApp's, at their defaults unless given): tests lower them */
  clientTimeouts?: Partial<ClientTimeouts>;
}

/** The ingest service as a Fastify instance (not listening): tests use `inject()`, server.ts listens. */
export async function buildIngestApp({ config, logging, now = Date.now, clientTimeouts }: IngestAppOptions) {
  const app = createBaseApp({
    logging: { level: config.LOG_LEVEL, ...logPrivacyFromConfig(config), ...logging },
    bodyLimit: config.INGEST_BODY_LIMIT_BYTES,
    clientTimeouts,
  });
  await app.register(dbPlugin, {
    databaseUrl: config.DATABASE_URL,
    max: config.PG_POOL_SIZE,
    applicationName: 'elevens-ingest',
  });
  await app.register(cachePlugin, {
    connection: { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES },
    keyPrefix: config.REDIS_KEY_PREFIX,
    connectionName: 'elevens-ingest',
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT,
  });
  await app.register(securityPlugin, {
    config,
    keys: app.apiKeys,
    keyMirror: app.apiKeyMirror,
    rateLimitCounters: app.rateLimitCounters,
  });
  await app.register(docsPlugin, {
    title: 'Elevens ingest',
    description: 'Events, catalog and users.',
    version: '0.1.0',
  });
  await app.register(metricsPlugin, {
    service: 'ingest',
    redis: app.redisHealth,
    postgres: app.postgresHealth,
  });
  await app.register(eventWriterPlugin, {
    maxGroupEvents: config.INGEST_GROUP_MAX_EVENTS,
    maxWaitMs: config.INGEST_GROUP_MAX_WAIT_MS,
    maxConcurrentWrites: config.INGEST_WRITE_CONCURRENCY,
    liveStateTimeoutMs: config.INGEST_LIVE_STATE_TIMEOUT_MS,
    now,
  });
  await app.register(partitionMaintenancePlugin, {
    monthsAhead: config.INGEST_PARTITIONS_AHEAD,
    intervalMs: 3_600_000,
  });
  await app.register(healthRoutes, {
    checks: { postgres: () => app.postgresHealth.ping(), redis: () => app.redisHealth.ping() },
  });
  await app.register(eventRoutes, { now });
  await app.register(itemRoutes);
  await app.register(userRoutes);
  await app.register(attributionPlugin, attributionSettingsFrom(config));
  return app;
}

export type IngestApp = Awaited<ReturnType<typeof buildIngestApp>>;
