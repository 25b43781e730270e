import { randomUUID } from 'node:crypto';
import { type RateLimitCounters, rateLimitCountersOf } from '@elevens/redis-stores';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import { expect, it } from 'vitest';
import type { RedisBackend } from './backends';

/** A Redis backend the rate limiter counts on, as a test file set it up (its own key prefix). */
export type RateLimitBackend = Pick<RedisBackend, 'keys' | 'redis' | 'connect'>;

const WINDOW_MS = 60_000;
const LIMIT = 5;

/**
 * A tiny app limited the way the services are (@fastify/rate-limit given the counters' client and prefix), with
 * the caller named by a header; failures of the counters are not skipped, so a backend that cannot count fails.
 */
async function limitedApp(counters: RateLimitCounters): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(rateLimit, {
    redis: counters.redis,
    nameSpace: counters.namespace,
    max: LIMIT,
    timeWindow: WINDOW_MS,
    skipOnError: false,
    keyGenerator: (request) => String(request.headers['x-caller']),
  });
  app.get('/limited', async () => ({ ok: true }));
  await app.ready();
  return app;
}

const call = (app: FastifyInstance, caller: string) =>
  app.inject({ method: 'GET', url: '/limited', headers: { 'x-caller': caller } });

/**
 * The rate-limit counters' contract, the same on every backend: the client and key prefix they hand over let
 * @fastify/rate-limit hold a limit exactly across processes counting at once, in one expiring counter per caller
 * under the prefix; the client reports `ready`, which the services' limiter requires before it counts.
 */
export function rateLimitCountersConformance(backend: () => RateLimitBackend) {
  it('holds the limit exactly when two processes count one caller at once, in one counter under the prefix', async () => {
    const { redis, keys } = backend();
    const other = backend().connect();
    const apps: FastifyInstance[] = [];
    try {
      apps.push(await limitedApp(rateLimitCountersOf(redis, keys)));
      apps.push(await limitedApp(rateLimitCountersOf(other, keys)));
      const caller = `caller-${randomUUID()}`;
      const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => call(apps[i % 2]!, caller)));
      const statuses = responses.map((response) => response.statusCode);
      expect(statuses.filter((status) => status === 200)).toHaveLength(LIMIT);
      expect(statuses.filter((status) => status === 429)).toHaveLength(40 - LIMIT);

      const counter = `${rateLimitCountersOf(redis, keys).namespace}${caller}`;
      expect(counter.startsWith(keys.prefix)).toBe(true);
      expect(await redis.get(counter)).toBe('40');
      const ttl = await redis.pttl(counter);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(WINDOW_MS);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
      other.disconnect();
    }
  });

  it('counts each caller on its own', async () => {
    const { redis, keys } = backend();
    const counters = rateLimitCountersOf(redis, keys);
    const app = await limitedApp(counters);
    try {
      const [spender, other] = [`spender-${randomUUID()}`, `other-${randomUUID()}`];
      for (let n = 0; n < LIMIT; n++) expect((await call(app, spender)).statusCode).toBe(200);
      expect((await call(app, spender)).statusCode).toBe(429);
      expect((await call(app, other)).statusCode).toBe(200);
      expect(await redis.get(`${counters.namespace}${other}`)).toBe('1');
      expect(counters.redis.status).toBe('ready');
    } finally {
      await app.close();
    }
  });
}
