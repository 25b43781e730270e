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
import { servingSettingsFrom } from '@elevens/recommender';
import { cachePlugin } from '@elevens/redis-stores';
import type { ApiConfig } from './config';
import { servedModelStatus } from './dashboard/served-model';
import { boostRulesPlugin } from './plugins/boost-rules';
import { catalogPlugin } from './plugins/catalog';
import { experimentsPlugin } from './plugins/experiments';
import { modelPlugin } from './plugins/model';
import { pushRulesPlugin } from './plugins/push-rules';
import { recommendationsServicePlugin } from './recommendations-service';
import { boostRuleRoutes } from './routes/boost-rules';
import { dashboardRoutes } from './routes/dashboard';
import { experimentRoutes } from './routes/experiments';
import { itemRoutes } from './routes/items';
import { monitorRoutes } from './routes/monitor';
import { pushRoutes } from './routes/push/index';
import { recommendationRoutes } from './routes/recommendations';
import { reportRoutes } from './routes/reports';
import { trendingRoutes } from './routes/trending';
import type { ApiThreadLink } from './threads';

export interface ApiAppOptions {
  config: ApiConfig;
  logging?: Partial<LoggingOptions>;
  /**
   * The wall clock (epoch ms) push decisions, budgets, quiet hours, boost and pin windows, experiment windows
   * and dashboard previews are evaluated at; default `Date.now`. Tests fix it, so no answer depends on the time of day the tests run at.
   */
  now?: () => number;
  /** This app's thread in a multi-threaded API (server.ts, API_THREADS > 1); absent in a single-threaded one. */
  thread?: ApiThreadLink;
  /** the slow-client bounds (createBaseApp's, at their defaults unless given): tests lower them */
  clientTimeouts?: Partial<ClientTimeouts>;
  /**
   * How long a mark of an unconfirmed change may stay in a Redis copy (push rules, boost rules, unservable items)
   * before a poll copies the committed truth again: UNCONFIRMED_GRACE_MS unless given; tests shorten it.
   */
  unconfirmedGraceMs?: number;
}

/** The API service as a Fastify instance (not listening): tests use `inject()`, server.ts listens. */
export async function buildApiApp({
  config,
  logging,
  now = Date.now,
  thread,
  clientTimeouts,
  unconfirmedGraceMs,
}: ApiAppOptions) {
  const app = createBaseApp({
    logging: { level: config.LOG_LEVEL, ...logPrivacyFromConfig(config), ...logging },
    clientTimeouts,
  });
  await app.register(dbPlugin, {
    databaseUrl: config.DATABASE_URL,
    max: config.PG_POOL_SIZE,
    applicationName: 'elevens-api',
  });
  await app.register(cachePlugin, {
    connection: { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES },
    keyPrefix: config.REDIS_KEY_PREFIX,
    connectionName: 'elevens-api',
    failFast: true,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT,
    autoPipelining: true,
  });
  await app.register(securityPlugin, {
    config,
    keys: app.apiKeys,
    keyMirror: app.apiKeyMirror,
    rateLimitCounters: app.rateLimitCounters,
  });
  await app.register(docsPlugin, {
    title: 'Elevens API',
    description: 'Recommendations, push caps and rules.',
    version: '0.1.0',
  });
  await app.register(metricsPlugin, {
    service: 'api',
    redis: app.redisHealth,
    postgres: app.postgresHealth,
    servedModel: () => servedModelStatus(app),
    // Process-wide figures (CPU, memory) come from the primary thread alone.
    processMetrics: thread?.role !== 'worker',
    ...(thread ? { otherThreads: () => thread.otherMetrics() } : {}),
  });
  await app.register(healthRoutes, {
    checks: { postgres: () => app.postgresHealth.ping(), redis: () => app.redisHealth.ping() },
  });
  // Before the model: its first load, which the app waits for, loads the lines the running experiments name too.
  await app.register(experimentsPlugin, { pollMs: config.MODEL_POLL_MS, now });
  await app.register(modelPlugin, { pollMs: config.MODEL_POLL_MS, now, ...(thread ? { thread } : {}) });
  await app.register(catalogPlugin, { pollMs: config.MODEL_POLL_MS, unconfirmedGraceMs });
  await app.register(boostRulesPlugin, { pollMs: config.BOOST_RULES_POLL_MS, now, unconfirmedGraceMs });
  await app.register(recommendationsServicePlugin, servingSettingsFrom(config));
  await app.register(recommendationRoutes, {
    cacheTtlMs: config.RECOMMENDATION_CACHE_TTL,
    cacheMinUses: config.RECOMMENDATION_CACHE_MIN_USES,
    now,
  });
  await app.register(itemRoutes);
  await app.register(trendingRoutes);
  await app.register(boostRuleRoutes);
  await app.register(pushRulesPlugin, {
    pollMs: config.PUSH_CONFIG_POLL_MS,
    statsFlushMs: config.PUSH_STATS_FLUSH_MS,
    statsTtlSeconds: Math.ceil(config.PUSH_STATS_RETENTION / 1000),
    unconfirmedGraceMs,
  });
  await app.register(pushRoutes, {
    defaultTimezone: config.PUSH_DEFAULT_TIMEZONE,
    duplicateCampaignMs: config.PUSH_DUPLICATE_CAMPAIGN_PERIOD,
    itemExclusionMs: config.PUSH_ITEM_EXCLUSION,
    timezoneCacheEntries: config.PUSH_TIMEZONE_CACHE_ENTRIES,
    now,
  });
  await app.register(dashboardRoutes, {
    defaultTimezone: config.PUSH_DEFAULT_TIMEZONE,
    keyPrefix: config.REDIS_KEY_PREFIX,
    now,
  });
  await app.register(monitorRoutes, { now });
  await app.register(experimentRoutes, { now });
  await app.register(reportRoutes);
  return app;
}

export type ApiApp = Awaited<ReturnType<typeof buildApiApp>>;
