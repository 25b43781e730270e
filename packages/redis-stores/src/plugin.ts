import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import {
  createRedisClient,
  type RedisClient,
  type RedisClientOptions,
  type RedisConnection,
  waitUntilReady,
} from './client';
import { createKeys, type RedisKeys } from './keys';
import { PushLedger } from './push';
import { BoostRulesMirror, LiveState, ReplyCache, TrendingCounts, UnservableItems } from './stores/index';
import { TurnBatch } from './turn-batch';

declare module 'fastify' {
  interface FastifyInstance {
    /** one server's client, or a Redis Cluster's when the connection names cluster nodes */
    redis: RedisClient;
    /** hot paths' commands, sent once per event-loop turn as one pipeline on `redis` */
    redisTurnBatch: TurnBatch;
    keys: RedisKeys;
    /** users' history, purchases, consent and stamps: written by ingest, read by the API */
    liveState: LiveState;
    /** per-user cached recommendation answers */
    replyCache: ReplyCache;
    /** the catalog's unservable items and their version */
    unservableItems: UnservableItems;
    /** the serving copy of the boost rules */
    boostRulesMirror: BoostRulesMirror;
    /** the live hourly trending counters */
    trending: TrendingCounts;
    /** reservations, pushed items, the served push config and decision counts */
    pushLedger: PushLedger;
  }
}

export interface CachePluginOptions extends RedisClientOptions {
  /** REDIS_URL, or REDIS_CLUSTER_NODES (which wins): `redisConnectionOf(config)` */
  connection: RedisConnection;
  keyPrefix: string;
}

/**
 * Decorates `fastify.redis` (scripts registered), `fastify.redisTurnBatch`, `fastify.keys` and the Redis stores
 * built on them (each owns its keys, commands and scripts), and disconnects when the app closes.
 */
export const cachePlugin = fp(
  async (app: FastifyInstance, options: CachePluginOptions) => {
    const redis = createRedisClient(options.connection, options);
    // A fail-fast client refuses commands until connected; give it a moment so start-up reads succeed, but
    // start anyway when Redis is down (serving degrades rather than refusing to start).
    await waitUntilReady(redis, 3_000);
    app.decorate<RedisClient>('redis', redis);
    const turnBatch = new TurnBatch(redis);
    const keys = createKeys(options.keyPrefix);
    app.decorate('redisTurnBatch', turnBatch);
    app.decorate('keys', keys);
    app.decorate('liveState', new LiveState(redis, keys, turnBatch));
    app.decorate('replyCache', new ReplyCache(redis, keys, turnBatch));
    app.decorate('unservableItems', new UnservableItems(redis, keys));
    app.decorate('boostRulesMirror', new BoostRulesMirror(redis, keys));
    app.decorate('trending', new TrendingCounts(redis, keys));
    app.decorate('pushLedger', new PushLedger(redis, keys, turnBatch));
    app.addHook('onClose', async () => {
      redis.disconnect();
    });
  },
  { name: 'elevens-cache', fastify: '5.x' },
);
