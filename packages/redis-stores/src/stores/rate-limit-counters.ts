import type { RedisClient } from '../client';
import type { RedisKeys } from '../keys';

/**
 * Where the rate limiter counts requests: a library (@fastify/rate-limit) sends the commands itself and needs the
 * ioredis client, so this hands it over with the counters' key prefix; nothing outside packages sees the client.
 */
export interface RateLimitCounters {
  readonly redis: RedisClient;
  readonly namespace: string;
}

export const rateLimitCountersOf = (redis: RedisClient, keys: RedisKeys): RateLimitCounters => ({
  redis,
  namespace: keys.rateLimitPrefix(),
});
