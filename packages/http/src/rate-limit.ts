import { Duration, formatDuration, PositiveMilliseconds } from '@elevens/config';
import type { ApiScope } from '@elevens/domain';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { HttpError } from './errors';

const requestsPerWindow = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/** Requests each key may make per window, per scope of the routes it calls; 0 lifts the limit. */
export const rateLimitEnv = {
  /** @fastify/rate-limit truncates the window, and one of 0 ms expires each counter as it is made: no limit holds */
  RATE_LIMIT_WINDOW: Duration.pipe(PositiveMilliseconds).default(10_000),
  RATE_LIMIT_RECOMMENDATIONS_READ: requestsPerWindow(20_000),
  RATE_LIMIT_EVENTS_WRITE: requestsPerWindow(5_000),
  RATE_LIMIT_PUSH_DECIDE: requestsPerWindow(20_000),
  RATE_LIMIT_ADMIN: requestsPerWindow(200),
};

export type RateLimitConfig = z.output<z.ZodObject<typeof rateLimitEnv>>;

/**
 * Where the counters live, so every process of a service shares them: the ioredis client @fastify/rate-limit
 * sends its commands through, and the counters' key prefix (`@elevens/redis-stores`' `rateLimitCountersOf`).
 */
export interface RateLimitRedis {
  readonly redis: { readonly status: string };
  readonly namespace: string;
}

export interface RateLimitPluginOptions {
  counters: RateLimitRedis;
  windowMs: number;
  /** requests per window for each scope; 0 = unlimited */
  limits: Record<ApiScope, number>;
}

export const rateLimitsFromConfig = (config: RateLimitConfig): Record<ApiScope, number> => ({
  'recommendations:read': config.RATE_LIMIT_RECOMMENDATIONS_READ,
  'events:write': config.RATE_LIMIT_EVENTS_WRITE,
  'push:decide': config.RATE_LIMIT_PUSH_DECIDE,
  admin: config.RATE_LIMIT_ADMIN,
});

/**
 * Per-key limits on every route with a scope, counted per key and scope in fixed windows in Redis. Requests
 * without a verified key (public routes; AUTH_REQUIRED=false) are not counted. While Redis is unreachable the
 * limits are not enforced: serving matters more than metering, and the readiness check reports the outage.
 * Register after the auth plugin (the counters are keyed by `request.apiKey`) and before the routes.
 * One callback hook decides whether a request is counted at all and calls the plugin's limiter only for those:
 * the plugin's own per-route hook cost every request two async functions and their microtasks, counted or not.
 */
export const rateLimitPlugin = fp(
  async (app: FastifyInstance, options: RateLimitPluginOptions) => {
    // As configured: rounded to seconds, a window of 500ms read "per 1 s" and one of 1500ms "per 2 s".
    const windowText = formatDuration(options.windowMs);
    const limitOf = (scope: ApiScope | undefined) => (scope === undefined ? 0 : options.limits[scope]);
    const { redis, namespace } = options.counters;
    await app.register(rateLimit, {
      global: false,
      redis,
      nameSpace: namespace,
      skipOnError: true,
      timeWindow: options.windowMs,
      keyGenerator: (request) => `${request.apiKey?.id ?? '-'}:${request.routeOptions.config.scope ?? '-'}`,
      max: (request) => limitOf(request.routeOptions.config.scope),
      errorResponseBuilder: (request, context) =>
        new HttpError(
          429,
          'rate_limited',
          `this key may make ${context.max} ${request.routeOptions.config.scope} requests per ${windowText}; retry in ${context.after}`,
          undefined,
          Math.max(1, Math.ceil(context.ttl / 1000)),
        ),
    });
    const limit = app.rateLimit();
    app.addHook('onRequest', (request, reply, done) => {
      if (request.apiKey === null || redis.status !== 'ready') return done();
      if (limitOf(request.routeOptions.config.scope) === 0) return done();
      limit.call(app, request, reply).then(() => done(), done);
    });
  },
  { name: 'elevens-rate-limit', fastify: '5.x', dependencies: ['elevens-auth'] },
);
