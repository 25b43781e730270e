import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { createRedis, type RedisClientOptions, waitUntilReady } from './client';
import { createKeys, type RedisKeys } from './keys';
import { TurnBatch } from './turn-batch';

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis;
    /** hot paths' commands, sent once per event-loop turn as one pipeline on `redis` */
    redisTurnBatch: TurnBatch;
    keys: RedisKeys;
  }
}

export interface CachePluginOptions extends RedisClientOptions {
  redisUrl: string;
  keyPrefix: string;
}

/**
 * Decorates `fastify.redis` (scripts registered), `fastify.redisTurnBatch` and `fastify.keys`, and disconnects
 * when the app closes.
 */
export const cachePlugin = fp(
  async (app: FastifyInstance, options: CachePluginOptions) => {
    const redis = createRedis(options.redisUrl, options);
    // A fail-fast client refuses commands until connected; give it a moment so start-up reads succeed, but
    // start anyway when Redis is down (serving degrades rather than refusing to start).
    await waitUntilReady(redis, 3_000);
    app.decorate('redis', redis);
    app.decorate('redisTurnBatch', new TurnBatch(redis));
    app.decorate('keys', createKeys(options.keyPrefix));
    app.addHook('onClose', async () => {
      redis.disconnect();
    });
  },
  { name: 'elevens-cache', fastify: '5.x' },
);
