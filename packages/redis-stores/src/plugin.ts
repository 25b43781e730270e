import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createRedisClient, type RedisClientOptions, type RedisConnection, waitUntilReady } from './client';
import { createKeys } from './keys';
import { ModelStore } from './model-store';
import { PushLedger } from './push';
import {
  ApiKeyMirror,
  BoostRulesMirror,
  LiveState,
  type RateLimitCounters,
  type RedisHealth,
  ReplyCache,
  rateLimitCountersOf,
  redisHealthOf,
  TrendingCounts,
  UnservableItems,
} from './stores/index';
import { TurnBatch } from './turn-batch';

declare module 'fastify' {
  interface FastifyInstance {
    /** the connection's ping, error events and port, for the readiness check and the metrics */
    redisHealth: RedisHealth;
    /** the copy of the API key table the security plugin reads while Postgres is down */
    apiKeyMirror: ApiKeyMirror;
    /** the rate limiter's counters (the client its library needs, and their key prefix) */
    rateLimitCounters: RateLimitCounters;
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
    /** the model lines and versions: publish, list, roll back, load */
    modelStore: ModelStore;
  }
}

export interface CachePluginOptions extends RedisClientOptions {
  /** REDIS_URL, or REDIS_CLUSTER_NODES (which wins): `redisConnectionOf(config)` */
  connection: RedisConnection;
  keyPrefix: string;
}

/**
 * A connection of the model store silent this long while a command waits is a stall, not a long read (a load's
 * replies keep arriving): it is dropped and made again, so the model poll, which start-up and shutdown wait for,
 * never waits on it for good.
 */
const MODEL_LOAD_SILENCE_TIMEOUT_MS = 10_000;

/**
 * Decorates the Redis stores (each owns its keys, commands and scripts), built on one client (one server's, or a
 * Redis Cluster's when the connection names cluster nodes) that no one else sees, and disconnects when the app
 * closes. With `commandTimeoutMs`, the model store gets a client of its own without that bound, connected at its
 * first use: loading a version reads whole hashes (HSCAN chunks of lists, the item table), which may rightly
 * take longer than a request's command, and a request's command never waits behind them.
 */
export const cachePlugin = fp(
  async (app: FastifyInstance, options: CachePluginOptions) => {
    const redis = createRedisClient(options.connection, options);
    // A fail-fast client refuses commands until connected; give a Redis that is there a moment so start-up reads
    // succeed, but start at once when none is (serving degrades rather than refusing to start).
    await waitUntilReady(redis, 3_000, { untilNothingThere: true });
    // The hot paths' commands go out once per event-loop turn as one pipeline (TurnBatch), shared by the stores.
    const turnBatch = new TurnBatch(redis);
    const keys = createKeys(options.keyPrefix);
    app.decorate('redisHealth', redisHealthOf(redis));
    app.decorate('apiKeyMirror', new ApiKeyMirror(redis, keys));
    app.decorate('rateLimitCounters', rateLimitCountersOf(redis, keys));
    app.decorate('liveState', new LiveState(redis, keys, turnBatch));
    app.decorate('replyCache', new ReplyCache(redis, keys, turnBatch));
    app.decorate('unservableItems', new UnservableItems(redis, keys));
    app.decorate('boostRulesMirror', new BoostRulesMirror(redis, keys));
    app.decorate('trending', new TrendingCounts(redis, keys));
    app.decorate('pushLedger', new PushLedger(redis, keys, turnBatch));
    const modelRedis =
      options.commandTimeoutMs === undefined
        ? redis
        : createRedisClient(options.connection, {
            connectionName: `${options.connectionName ?? 'elevens'}-models`,
            lazyConnect: true,
            silenceTimeoutMs: MODEL_LOAD_SILENCE_TIMEOUT_MS,
          });
    app.decorate('modelStore', new ModelStore(modelRedis, keys));
    app.addHook('onClose', async () => {
      redis.disconnect();
      if (modelRedis !== redis) modelRedis.disconnect();
    });
  },
  { name: 'elevens-cache', fastify: '5.x' },
);
