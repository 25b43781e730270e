/**
 * The shop bench:api, bench:festival and profile:api serve, and the API process serving it. The generator's
 * catalog of 200,000 items (seed 1111) gets a model published through `publishModel`: 50 neighbours per item
 * (80 % from the item's own category), 10 bought-together items, popular / per-category popular / trending lists
 * counted from the generator's 400,000 events. The same events, shifted so the newest is now, are posted to the
 * ingest server as shipped (ingest-server.ts, a process of its own) through the client SDK, as a storefront's back
 * end sends them: committed to the shop's database, they give about 17,000 users live histories in Redis.
 */

import { sendInBatches } from '@elevens/cli/send-in-batches';
import { ElevensClient } from '@elevens/client';
import { DEFAULT_REDIS_URL } from '@elevens/config';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import {
  buildCatalogLayout,
  categoryIdOf,
  createRng,
  type GeneratedEvent,
  generateEvents,
  itemIdOf,
  type Rng,
} from '@elevens/generator';
import { createKeys, createRedisClient, type PackedLists, publishModel } from '@elevens/redis-stores';
import autocannon from 'autocannon';
import { median, percentiles } from './latency';
import { runPaced } from './paced-load';
import { API_NODE_FLAGS, type BenchServer, benchRedis, processCpuMs, startService } from './servers';

export const ITEMS = 200_000;
/** autocannon's connections in every load of `loadUsers` */
export const LOAD_CONNECTIONS = 64;
const USERS = 20_000;
const EVENTS = 400_000;
const SEED = 1111;
/** The shop's events go to ingest in batches of this many, this many requests in flight (as the demo sends them). */
const EVENT_BATCH = 500;
const BATCHES_IN_FLIGHT = 4;
export const NEIGHBORS = 50;
const BOUGHT_TOGETHER = 10;
export const REDIS_URL = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
/** The shop's events are committed here; the API reads nothing from it per request. */
export const SHOP_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/elevens_bench_api';

/** Neighbour lists like a build's: mostly items of the same category, some from anywhere, best first. */
function syntheticLists(
  rng: Rng,
  layout: ReturnType<typeof buildCatalogLayout>,
  perItem: number,
  sameCategoryShare: number,
): PackedLists {
  const ptr = new Uint32Array(ITEMS + 1);
  const idx = new Uint32Array(ITEMS * perItem);
  const score = new Float32Array(ITEMS * perItem);
  const chosen = new Set<number>();
  let o = 0;
  for (let item = 0; item < ITEMS; item++) {
    const c = layout.itemCategory[item]!;
    const from = layout.categoryPtr[c]!;
    const size = layout.categoryPtr[c + 1]! - from;
    chosen.clear();
    let s = 0.9;
    for (let attempt = 0; chosen.size < perItem && attempt < perItem * 4; attempt++) {
      const neighbor =
        rng.next() < sameCategoryShare && size > 1
          ? layout.categoryItems[from + Math.floor(rng.next() * size)]!
          : Math.floor(rng.next() * ITEMS);
      if (neighbor === item || chosen.has(neighbor)) continue;
      chosen.add(neighbor);
      idx[o] = neighbor;
      score[o++] = s;
      s *= 0.97;
    }
    ptr[item + 1] = o;
  }
  return { ptr, idx: idx.subarray(0, o), score: score.subarray(0, o) };
}

function topK(counts: Float64Array, k: number, filter: (item: number) => boolean = () => true) {
  const items: number[] = [];
  for (let i = 0; i < counts.length; i++) if (counts[i]! > 0 && filter(i)) items.push(i);
  items.sort((a, b) => counts[b]! - counts[a]! || a - b);
  const top = items.slice(0, k);
  return { idx: Uint32Array.from(top), score: Float64Array.from(top.map((i) => counts[i]!)) };
}

export interface Shop {
  /** users with a live history */
  users: string[];
  /** the item of every generated event, in order: a draw from it follows the shop's popularity */
  eventItems: string[];
}

/**
 * The environment the shop's services run with (api-server.ts, ingest-server.ts): this process's, on 127.0.0.1 and
 * a free port, the shop's keys and database, auth off, and no load shedding: they are measured at saturation on
 * purpose, where shedding would answer 503s instead of their work.
 */
export function shopServiceEnv(prefix: string, databaseUrl: string, logLevel: 'warn' | 'error') {
  return {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    REDIS_URL,
    DATABASE_URL: databaseUrl,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: logLevel,
    AUTH_REQUIRED: 'false',
    PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
  };
}

/** The ingest server as shipped, on the shop's database and keys, in a process of its own (ingest-server.ts). */
export function startShopIngest(
  prefix: string,
  databaseUrl: string,
  { extraNodeFlags = [] }: Pick<ShopApiOptions, 'extraNodeFlags'> = {},
): Promise<BenchServer> {
  return startService(new URL('./ingest-server.ts', import.meta.url).href, 'serve', [prefix, databaseUrl], {
    nodeFlags: extraNodeFlags,
  });
}

/** Drops the shop's database (at a run's end, and before a run where a run stopped short left it). */
export function dropShopDatabase(databaseUrl: string): Promise<void> {
  return dropDatabase(databaseUrl, decodeURIComponent(new URL(databaseUrl).pathname.slice(1)));
}

/** Creates the shop's database migrated and empty: each run's shop starts from no events. */
async function freshDatabase(databaseUrl: string) {
  await dropShopDatabase(databaseUrl);
  await ensureDatabase(databaseUrl);
  await migrate(databaseUrl);
}

/** Posts `events` to the ingest server at `port` through the client SDK; throws unless every one is accepted. */
async function postEvents(port: number, events: readonly GeneratedEvent[]) {
  const client = new ElevensClient({ ingestUrl: `http://127.0.0.1:${port}`, timeoutMs: 60_000 });
  const started = performance.now();
  let accepted = 0;
  await sendInBatches(events, EVENT_BATCH, BATCHES_IN_FLIGHT, async (batch) => {
    const reply = await client.sendEvents(batch);
    if (reply.accepted !== batch.length)
      throw new Error(
        `ingest accepted ${reply.accepted} of ${batch.length} events: ${JSON.stringify(reply)}`,
      );
    accepted += reply.accepted;
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `shop: ${accepted} events through the ingest API in ${seconds.toFixed(1)} s (${Math.round(accepted / seconds)} events/s)`,
  );
}

/**
 * Generator events → committed to a fresh `databaseUrl` and into users' live histories by the ingest server (over
 * HTTP, as a storefront sends them), and a published model.
 */
export async function prepareShop(prefix: string, databaseUrl: string): Promise<Shop> {
  await freshDatabase(databaseUrl);
  const redis = createRedisClient(benchRedis());
  const keys = createKeys(prefix);
  const layout = buildCatalogLayout({ items: ITEMS, seed: SEED });
  const popularity = new Float64Array(ITEMS);
  const recent = new Float64Array(ITEMS);
  const users = new Set<string>();
  let newestMs = 0;
  const weight = { view: 1, fav: 2, cart: 3, purchase: 5 } as const;
  const events = [...generateEvents({ users: USERS, items: ITEMS, events: EVENTS, seed: SEED })];
  for (const e of events) newestMs = Math.max(newestMs, e.timestamp);
  // Shift the stream so its newest event is now: histories are fresh, as on festival night.
  const shift = Date.now() - newestMs;
  for (const e of events) {
    const item = Number(e.itemId.slice(1));
    popularity[item]! += weight[e.type];
    if (newestMs - e.timestamp < 24 * 3_600_000) recent[item]! += weight[e.type];
    users.add(e.userId);
    e.timestamp += shift;
  }
  const ingest = await startShopIngest(prefix, databaseUrl);
  try {
    await postEvents(ingest.port, events);
  } finally {
    await ingest.stop();
  }

  const rng = createRng(SEED);
  const popularByCategory = new Map<string, { idx: Uint32Array; score: Float64Array }>();
  for (let c = 0; c < layout.numCategories; c++)
    popularByCategory.set(
      categoryIdOf(c),
      topK(popularity, 100, (i) => layout.itemCategory[i] === c),
    );
  const started = Date.now();
  await publishModel(redis, keys, {
    version: `bench-${Date.now()}`,
    algorithm: 'synthetic',
    builtAtMs: Date.now(),
    itemIds: Array.from({ length: ITEMS }, (_, i) => itemIdOf(i)),
    itemCategories: Array.from({ length: ITEMS }, (_, i) => categoryIdOf(layout.itemCategory[i]!)),
    neighbors: syntheticLists(rng, layout, NEIGHBORS, 0.8),
    boughtTogether: syntheticLists(rng, layout, BOUGHT_TOGETHER, 0.5),
    popular: topK(popularity, 1000),
    trending: topK(recent, 200),
    popularByCategory,
  });
  console.log(
    `model: ${ITEMS} items × ${NEIGHBORS} neighbours published in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `${users.size} users with histories from ${EVENTS} generated events`,
  );
  redis.disconnect();
  return { users: [...users], eventItems: events.map((e) => e.itemId) };
}

/**
 * The API's threads in every benchmark (API_THREADS): 1, the default, unless BENCH_API_THREADS says otherwise. On
 * the benchmarks' two cores, shared with Redis and the load generator, a second thread costs more CPU per request
 * than it gains (docs/benchmarks.md, bench:api).
 */
export const BENCH_API_THREADS = process.env.BENCH_API_THREADS ?? '1';
/** How a benchmark's runtime line names the API's threads. */
export const API_THREADS_LABEL = `the API on ${BENCH_API_THREADS} thread(s) (API_THREADS)`;

export interface ShopApiOptions {
  /** RECOMMENDATION_CACHE_TTL; the app's default when left out */
  cacheTtl?: string;
  /** node flags besides the production ones (a profiler) */
  extraNodeFlags?: readonly string[];
}

/**
 * The API server serving the shop, in a process of its own with the production node flags and BENCH_API_THREADS
 * threads (api-server.ts).
 */
export function startShopApi(
  prefix: string,
  databaseUrl: string,
  { cacheTtl, extraNodeFlags = [] }: ShopApiOptions = {},
): Promise<BenchServer> {
  return startService(
    new URL('./api-server.ts', import.meta.url).href,
    'serve',
    [prefix, databaseUrl, ...(cacheTtl === undefined ? [] : [cacheTtl])],
    { nodeFlags: [...API_NODE_FLAGS, ...extraNodeFlags], env: { API_THREADS: BENCH_API_THREADS } },
  );
}

export type ReplyCacheCounts = Record<'hit' | 'miss' | 'off', number>;

/** The API app's reply cache counters, from its Prometheus metrics. */
export async function replyCacheCounts(port: number): Promise<ReplyCacheCounts> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counts: ReplyCacheCounts = { hit: 0, miss: 0, off: 0 };
  for (const [, result, value] of text.matchAll(
    /^elevens_recommendation_cache_total\{[^}]*result="(hit|miss|off)"[^}]*\} (\d+)/gm,
  ))
    counts[result as keyof ReplyCacheCounts] = Number(value);
  return counts;
}

/** The share of the answers between two counts that came from the reply cache. */
export function hitRate(before: ReplyCacheCounts, after: ReplyCacheCounts): number {
  const hits = after.hit - before.hit;
  const answers = hits + after.miss - before.miss + after.off - before.off;
  return hits / Math.max(1, answers);
}

export interface LoadFigures {
  requests: number;
  rps: number;
  /** raw response times, ms */
  p50: number;
  p99: number;
  errors: number;
  /** serving process CPU (user + system) per answered request, µs; null where /proc is unavailable */
  cpuUs: number | null;
}

/**
 * One figure for a route's slices: requests over the time summed, CPU per request over all requests, p50/p99 the
 * slices' medians (one slice disturbed by another process moves them less than a pooled figure), hit rate over
 * all answers.
 */
export function combineSlices<F extends LoadFigures & { hitRate?: number }>(slices: readonly F[]): F {
  const requests = slices.reduce((sum, x) => sum + x.requests, 0);
  const seconds = slices.reduce((sum, x) => sum + x.requests / x.rps, 0);
  const weighted = (value: (x: F) => number | null | undefined) =>
    slices.every((x) => typeof value(x) === 'number')
      ? slices.reduce((sum, x) => sum + value(x)! * x.requests, 0) / Math.max(1, requests)
      : null;
  const hitRate = weighted((x) => x.hitRate);
  return {
    ...slices[0]!,
    requests,
    rps: requests / seconds,
    p50: median(slices.map((x) => x.p50)),
    p99: median(slices.map((x) => x.p99)),
    errors: slices.reduce((sum, x) => sum + x.errors, 0),
    cpuUs: weighted((x) => x.cpuUs),
    ...(hitRate === null ? {} : { hitRate }),
  };
}

export interface UserLoad {
  server: BenchServer;
  path: (user: string) => string;
  users: readonly string[];
  /** seconds with users at random, or one request per user, in order */
  duration: number | 'every user once';
  /**
   * a steady offered rate (req/s) for `duration` seconds, open loop (paced-load.ts), instead of as fast as the
   * server answers
   */
  rate?: number;
}

/** LOAD_CONNECTIONS connections on one server, a user's path per request: autocannon, or paced at `rate`. */
export async function loadUsers(load: UserLoad): Promise<LoadFigures> {
  const { server, path, users, duration, rate } = load;
  if (rate !== undefined) {
    if (duration === 'every user once') throw new Error('a paced load runs for a number of seconds');
    return loadUsersPaced(server, path, users, duration, rate);
  }
  let next = 0;
  const latencies: number[] = [];
  const cpuBefore = processCpuMs(server.pid);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const run = autocannon(
      {
        url: `http://127.0.0.1:${server.port}`,
        connections: LOAD_CONNECTIONS,
        ...(duration === 'every user once' ? { amount: users.length } : { duration }),
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              path: path(
                duration === 'every user once'
                  ? users[next++ % users.length]!
                  : users[Math.floor(Math.random() * users.length)]!,
              ),
            }),
          },
        ],
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    run.on('response', (_client, statusCode: number, _bytes, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  const cpuAfter = processCpuMs(server.pid);
  return {
    requests: result.requests.total,
    rps: result.requests.total / result.duration,
    ...percentiles(latencies),
    errors: result.errors + result.timeouts + result.non2xx,
    cpuUs:
      cpuBefore === null || cpuAfter === null
        ? null
        : ((cpuAfter - cpuBefore) * 1000) / Math.max(1, result.requests.total),
  };
}

/** `loadUsers` at a steady rate: users at random, response times from when each request was found due. */
async function loadUsersPaced(
  server: BenchServer,
  path: (user: string) => string,
  users: readonly string[],
  seconds: number,
  rate: number,
): Promise<LoadFigures> {
  const result = await runPaced({
    server,
    connections: LOAD_CONNECTIONS,
    rate,
    seconds,
    request: () => ({ method: 'GET', path: path(users[Math.floor(Math.random() * users.length)]!) }),
  });
  return {
    requests: result.ok,
    rps: result.ok / result.seconds,
    ...percentiles(result.latencies),
    errors: result.errors,
    cpuUs: result.serverCpuMs === null ? null : (result.serverCpuMs * 1000) / Math.max(1, result.requests),
  };
}
