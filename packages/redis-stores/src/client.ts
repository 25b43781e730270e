import { createHash } from 'node:crypto';
import {
  type ChainableCommander,
  Cluster,
  type ClusterOptions,
  Command,
  Redis,
  type RedisOptions,
  type Result,
} from 'ioredis';
import { globEscaped } from './keys/glob';
import { modelKeys } from './keys/model';
import { luaSource } from './lua-source';
import { RESERVATION_LUA_PREAMBLE } from './push-reservation';

export type { Cluster, Redis } from 'ioredis';

/** A client of one Redis server or of a Redis Cluster; stores that work on both take this. */
export type RedisClient = Redis | Cluster;

/** The push scripts read reservations, whose layout push-reservation.ts owns and prepends as one line. */
const pushLua = (name: string) => RESERVATION_LUA_PREAMBLE + luaSource(name);

/** Every Lua script, registered on each client with defineCommand (EVALSHA, falling back to EVAL). */
const SCRIPTS = {
  elevensPublishModel: { numberOfKeys: 4, lua: luaSource('publish-model') },
  elevensRollbackModel: { numberOfKeys: 4, lua: luaSource('rollback-model') },
  // The line's current, versions, retired and publishing keys, then every key of the version.
  elevensDeleteModelVersion: {
    numberOfKeys: 4 + modelKeys('').modelVersionKeys('v').length,
    lua: luaSource('delete-model-version'),
  },
  elevensPushDecide: { numberOfKeys: 3, lua: pushLua('push-decide') },
  // The same script for a decision the sender may retry: the user's retried decisions hash is a fourth key.
  elevensPushDecideRetried: { numberOfKeys: 4, lua: pushLua('push-decide') },
  elevensPushRelease: { numberOfKeys: 2, lua: pushLua('push-release') },
  elevensPushClaimItem: { numberOfKeys: 2, lua: pushLua('push-claim-item') },
  elevensPushClaimRecordedItem: { numberOfKeys: 3, lua: pushLua('push-claim-item') },
  elevensPushAddStats: { numberOfKeys: 1, lua: luaSource('push-add-stats') },
  elevensWriteUserProfile: { numberOfKeys: 3, lua: luaSource('write-user-profile') },
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
      publishing: string,
      version: string,
      publishedAtMs: number,
    ): Result<string | null, Context>;
    elevensDeleteModelVersion(...keysThenVersion: string[]): Result<number, Context>;
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
      history: string,
      ...args: (string | number)[]
    ): Result<(string | number)[], Context>;
    elevensPushDecideRetried(
      profile: string,
      sends: string,
      history: string,
      retries: string,
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
    elevensWriteUserProfile(
      profile: string,
      stamp: string,
      history: string,
      revision: number,
      personalization: '1' | '0',
      push: '1' | '0',
      timezone: string,
      newStamp: string,
    ): Result<number, Context>;
    elevensPushClaimItem(
      items: string,
      sends: string,
      decisionAtMs: number,
      exclusionMs: number,
      decisionUuid: string,
      ...candidates: string[]
    ): Result<string | null, Context>;
    elevensPushClaimRecordedItem(
      items: string,
      sends: string,
      retries: string,
      ...args: (string | number)[]
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
  /**
   * Fail a command Redis has not answered within this many ms (ioredis `commandTimeout`), and drop a connection
   * that has received nothing for that long while commands wait on it (`silenceTimeoutMs`). Without it a Redis
   * that stalls with its connection open (a partition, a vanished host, a long script) holds every command until
   * TCP gives up, minutes later. Serving processes set it; batch jobs, whose publishes and rebuilds may rightly
   * take longer, leave it unset.
   */
  commandTimeoutMs?: number;
  /**
   * Drop a connection that has received nothing for this many ms while commands wait on it (ioredis
   * `socketTimeout`); the client reconnects. A long reply keeps arriving, so this bounds a stall, not a long read.
   * Once dropped, a fail-fast client refuses commands at once until it is connected again, rather than have each
   * wait out its own timeout.
   */
  silenceTimeoutMs?: number;
  /** Connect at the first command instead of at once (a client a process may never use). */
  lazyConnect?: boolean;
}

/** `RedisClientOptions`' timeouts as ioredis options. */
function timeoutsOf(options: RedisClientOptions): Pick<RedisOptions, 'commandTimeout' | 'socketTimeout'> {
  const { commandTimeoutMs } = options;
  const silenceTimeoutMs = options.silenceTimeoutMs ?? commandTimeoutMs;
  return {
    ...(commandTimeoutMs === undefined ? {} : { commandTimeout: commandTimeoutMs }),
    ...(silenceTimeoutMs === undefined ? {} : { socketTimeout: silenceTimeoutMs }),
  };
}

/**
 * Idle time before TCP keepalive probes (ioredis's default, 0, leaves the system's two hours): a server that
 * vanished without closing its connections is found in minutes, and a poll waiting on it fails and reconnects.
 */
const KEEPALIVE_DELAY_MS = 10_000;

export function createRedis(url: string, options: RedisClientOptions = {}): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.connectionName ?? 'elevens',
    lazyConnect: options.lazyConnect ?? false,
    maxRetriesPerRequest: options.failFast ? 0 : 3,
    enableOfflineQueue: !options.failFast,
    connectTimeout: 5_000,
    keepAlive: KEEPALIVE_DELAY_MS,
    ...timeoutsOf(options),
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

/** Where Redis is: one server's URL, or a cluster's seed nodes, which take precedence when given. */
export interface RedisConnection {
  url: string;
  clusterNodes?: readonly { host: string; port: number }[] | undefined;
}

/** The connection a process's environment names (REDIS_URL, and REDIS_CLUSTER_NODES, which wins when set). */
export const redisConnectionOf = (env: {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: readonly { host: string; port: number }[] | undefined;
}): RedisConnection => ({ url: env.REDIS_URL, clusterNodes: env.REDIS_CLUSTER_NODES });

/** Where a connection points, for messages: the URL without its password, or the cluster's seed nodes. */
export const describeRedisConnection = (connection: RedisConnection): string =>
  connection.clusterNodes?.length
    ? `the cluster seeds ${connection.clusterNodes.map((node) => `${node.host}:${node.port}`).join(',')}`
    : connection.url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');

/**
 * A client of `connection`: an ioredis `Cluster` when it names cluster nodes, else the standalone client of
 * `createRedis`. Either has every script registered. A Cluster routes each command by its key's slot (so every
 * multi-key command, transaction and script must keep its keys in one slot: hash tags), reads from masters only
 * (a replica may not hold a reservation made a moment ago), and auto-pipelines per node when asked.
 */
export function createRedisClient(
  connection: RedisConnection,
  options: RedisClientOptions = {},
): RedisClient {
  const nodes = connection.clusterNodes ?? [];
  if (nodes.length === 0) return createRedis(connection.url, options);
  const clusterOptions: ClusterOptions = {
    scaleReads: 'master',
    lazyConnect: options.lazyConnect ?? false,
    enableOfflineQueue: !options.failFast,
    enableAutoPipelining: options.autoPipelining ?? false,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    redisOptions: {
      connectionName: options.connectionName ?? 'elevens',
      maxRetriesPerRequest: options.failFast ? 0 : 3,
      connectTimeout: 5_000,
      keepAlive: KEEPALIVE_DELAY_MS,
      ...timeoutsOf(options),
    },
  };
  const cluster = new Cluster(
    nodes.map((node) => ({ host: node.host, port: node.port })),
    clusterOptions,
  );
  cluster.on('error', () => {});
  for (const [name, script] of Object.entries(SCRIPTS)) {
    cluster.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
  return cluster;
}

/** The clients of a cluster's masters, or the client itself: commands that act per server (SCAN) go to each. */
export const serversOf = (redis: RedisClient): Redis[] =>
  redis instanceof Cluster ? redis.nodes('master') : [redis];

/** The Redis Cluster slot of a key (CRC16 of its hash tag, or of the whole key), as ioredis routes it. */
export const slotOf = (key: string): number => new Command('exists', [key]).getSlot() as number;

/**
 * Pipelines for commands over many users' or hours' keys: one on a standalone server; on a cluster one per node,
 * as ioredis refuses a cluster pipeline whose keys live on several nodes (its keys' slots are grouped by the node
 * serving them, or by slot while the cluster's slot map is not yet known). Each command's own keys must share a
 * slot (one user's keys, say).
 */
export class PipelinesByNode {
  private readonly pipelines = new Map<string, ChainableCommander>();

  constructor(private readonly redis: RedisClient) {}

  /** The pipeline for commands on `key` and keys of its slot. */
  on(key: string): ChainableCommander {
    const { redis } = this;
    let group = '';
    if (redis instanceof Cluster) {
      const slot = slotOf(key);
      group = redis.slots[slot]?.join(';') ?? `slot ${slot}`;
    }
    let pipeline = this.pipelines.get(group);
    if (!pipeline) {
      pipeline = redis.pipeline();
      this.pipelines.set(group, pipeline);
    }
    return pipeline;
  }

  /** Runs every pipeline; every command runs, then the first failure (if any) is thrown. */
  async exec(): Promise<void> {
    const results = await Promise.all([...this.pipelines.values()].map((pipeline) => pipeline.exec()));
    for (const replies of results) {
      if (!replies) throw new Error('pipeline aborted');
      const failed = replies.find(([error]) => error);
      if (failed) throw failed[0];
    }
  }
}

export async function pingRedis(redis: RedisClient): Promise<boolean> {
  // A client that is not connected would queue the PING until it reconnects (or its retries run out).
  if (redis.status !== 'ready') return false;
  try {
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  }
}

/**
 * Deletes every key under a prefix (SCAN, never KEYS; on a cluster, on every master); for test isolation and
 * tear-down.
 */
export async function deleteKeysWithPrefix(redis: RedisClient, prefix: string): Promise<number> {
  let deleted = 0;
  const pattern = `${globEscaped(prefix)}*`;
  for (const server of serversOf(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      // A cluster node refuses a multi-key command over several slots: one UNLINK per key there.
      if (redis instanceof Cluster)
        for (const count of await Promise.all(keys.map((key) => server.unlink(key)))) deleted += count;
      else if (keys.length > 0) deleted += await server.unlink(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

/** Connection errors that say no server is there: nothing listens at the port, the host does not resolve. */
const NOTHING_THERE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether a client's error event says no server is there. A cluster's says every seed's connection closed
 * before it answered (its error names no code); a server that answers, however slowly (LOADING), says no such
 * thing, nor does a connection that hangs.
 */
function saysNothingIsThere(error: unknown): boolean {
  const { code, name, lastNodeError } = error as { code?: unknown; name?: unknown; lastNodeError?: unknown };
  if (typeof code === 'string') return NOTHING_THERE_CODES.has(code);
  return (
    name === 'ClusterAllFailedError' &&
    lastNodeError instanceof Error &&
    lastNodeError.message === 'Connection is closed.'
  );
}

export interface WaitUntilReadyOptions {
  /**
   * Resolve false as soon as a connection attempt finds no server there (refused, no such host) rather than wait
   * out `timeoutMs` for one to start listening: for a check that answers an operator, or a start-up that goes on
   * without Redis anyway. A server that is there but slow (LOADING) is still waited for.
   */
  untilNothingThere?: boolean;
}

/** Resolves true once the client is connected, or false after `timeoutMs` (or, if asked, once nothing is there). */
export function waitUntilReady(
  redis: RedisClient,
  timeoutMs: number,
  { untilNothingThere = false }: WaitUntilReadyOptions = {},
): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      resolve(ready);
    };
    const onReady = () => settle(true);
    const onError = (error: unknown) => {
      if (untilNothingThere && saysNothingIsThere(error)) settle(false);
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    redis.once('ready', onReady);
    redis.on('error', onError);
  });
}

/**
 * Runs a pipeline or a MULTI transaction whose keys share a slot (on a cluster, one node's); every command runs,
 * then the first failure (if any) is thrown, as is an aborted transaction; else the replies.
 */
export async function execOrThrow(pipeline: ReturnType<RedisClient['pipeline']>): Promise<unknown[]> {
  const results = await pipeline.exec();
  if (results === null) throw new Error('transaction aborted');
  const failed = results.find(([error]) => error);
  if (failed) throw failed[0];
  return results.map(([, reply]) => reply);
}
