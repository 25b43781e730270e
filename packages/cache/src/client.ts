import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions, type Result } from 'ioredis';

export type { Redis } from 'ioredis';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

/** Every Lua script, registered on each client with defineCommand (EVALSHA, falling back to EVAL). */
const SCRIPTS = {
  elevensPublishModel: { numberOfKeys: 3, lua: lua('publish-model') },
  elevensRollbackModel: { numberOfKeys: 4, lua: lua('rollback-model') },
  elevensPushDecide: { numberOfKeys: 2, lua: lua('push-decide') },
  elevensPushRelease: { numberOfKeys: 2, lua: lua('push-release') },
  elevensPushClaimItem: { numberOfKeys: 2, lua: lua('push-claim-item') },
  elevensPushAddStats: { numberOfKeys: 1, lua: lua('push-add-stats') },
  elevensRecordUserEvents: { numberOfKeys: 3, lua: lua('record-user-events') },
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/** A script's EVALSHA id and key count, for callers that build the command themselves (TurnBatch). */
export function scriptCall(name: ScriptName): { sha: string; numberOfKeys: number } {
  const script = SCRIPTS[name];
  return { sha: createHash('sha1').update(script.lua).digest('hex'), numberOfKeys: script.numberOfKeys };
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    elevensPublishModel(
      current: string,
      versions: string,
      meta: string,
      version: string,
      publishedAtMs: number,
    ): Result<string | null, Context>;
    elevensRollbackModel(
      current: string,
      versions: string,
      retired: string,
      restoredMeta: string,
      expectedCurrent: string,
      restored: string,
      retiredAtMs: number,
    ): Result<number, Context>;
    elevensPushDecide(
      profile: string,
      sends: string,
      ...args: (string | number)[]
    ): Result<(string | number)[], Context>;
    elevensPushRelease(
      sends: string,
      items: string,
      decisionUuid: string,
      decisionAtMs: number,
    ): Result<number, Context>;
    elevensPushAddStats(
      hour: string,
      ttlSeconds: number,
      ...fieldCounts: (string | number)[]
    ): Result<number, Context>;
    elevensRecordUserEvents(
      history: string,
      purchased: string,
      stamp: string,
      newStamp: string,
      historyCap: number,
      historyCount: number,
      ...historyThenPurchases: string[]
    ): Result<number, Context>;
    elevensPushClaimItem(
      items: string,
      sends: string,
      decisionAtMs: number,
      exclusionMs: number,
      decisionUuid: string,
      ...candidates: string[]
    ): Result<string | null, Context>;
  }
}

export interface RedisClientOptions {
  /** Fail commands at once while disconnected instead of queueing them (serving paths want fast fallbacks). */
  failFast?: boolean;
  connectionName?: string;
  /**
   * Send the commands issued during one event-loop turn as one write (ioredis auto-pipelining): under load,
   * concurrent requests share a syscall and Redis wake-up instead of paying one each.
   */
  autoPipelining?: boolean;
}

export function createRedis(url: string, options: RedisClientOptions = {}): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.connectionName ?? 'elevens',
    lazyConnect: false,
    maxRetriesPerRequest: options.failFast ? 0 : 3,
    enableOfflineQueue: !options.failFast,
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    enableAutoPipelining: options.autoPipelining ?? false,
  };
  const redis = new Redis(url, redisOptions);
  // Connection errors surface through commands and readiness checks; without a listener ioredis logs each one.
  redis.on('error', () => {});
  for (const [name, script] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
  return redis;
}

export async function pingRedis(redis: Redis): Promise<boolean> {
  // A client that is not connected would queue the PING until it reconnects (or its retries run out).
  if (redis.status !== 'ready') return false;
  try {
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  }
}

/** Deletes every key under a prefix (SCAN, never KEYS); for test isolation and tear-down. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(
      cursor,
      'MATCH',
      `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
      'COUNT',
      1000,
    );
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Resolves true once the client is connected, or false after `timeoutMs`. */
export function waitUntilReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    redis.once('ready', onReady);
  });
}
