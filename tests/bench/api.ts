/**
 * bench:api — GET /v1/recommendations for random users with live histories, on a 200,000-item model, against a
 * bare Fastify route that answers one Redis GET of a value of the same size, in the same run:
 *   1. peak: each route at full speed (req/s, p50, p99);
 *   2. same offered rate: each route at half the bare route's peak (p99).
 * The measured API is the app as shipped (reply cache on, default RECOMMENDATION_CACHE_TTL); afterwards, the API
 * with the cache off (RECOMMENDATION_CACHE_TTL=0, in a server process of its own) shows the computed path at peak. The reply cache hit rate of
 * each phase comes from the app's own metric. Each phase also reports the server process's CPU time per request,
 * which other load on a shared machine disturbs less than req/s. Also measures what
 * fastify-type-provider-zod's reply serialization would cost.
 * Servers run in a child process; autocannon drives them from this one. 127.0.0.1 only; keys under a bench
 * prefix, deleted at the end. BENCH_PHASE_SECONDS (default 10) sets each phase's length; BENCH_CPU_PROF=<dir>
 * writes a CPU profile of the server process there.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import {
  createKeys,
  createRedis,
  deleteKeysWithPrefix,
  type LiveEvent,
  type PackedLists,
  publishModel,
  recordLiveEvents,
} from '@elevens/cache';
import { DEFAULT_REDIS_URL } from '@elevens/config';
import { ensureDatabase, migrate } from '@elevens/db';
import { RecommendationsReply } from '@elevens/domain';
import {
  buildCatalogLayout,
  categoryIdOf,
  createRng,
  generateEvents,
  itemIdOf,
  type Rng,
} from '@elevens/generator';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import { announcePorts, startServerPair } from './server-pair';

const ITEMS = 200_000;
const USERS = 20_000;
const EVENTS = 400_000;
const SEED = 1111;
const NEIGHBORS = 50;
const BOUGHT_TOGETHER = 10;
const LIMIT = 10;
const CONNECTIONS = 64;
const PHASE_SECONDS = Number(process.env.BENCH_PHASE_SECONDS ?? 10);
const WARMUP_SECONDS = 5;
const REDIS_URL = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
/** The API reads nothing from Postgres per request, but its plugins want a migrated database to start. */
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/elevens_bench_api';

const bareKey = (prefix: string) => `${prefix}bench:bare-value`;

/**
 * Child mode: the API app (with RECOMMENDATION_CACHE_TTL set to `cacheTtl` when given) and the bare route, each
 * on its own port; prints the ports as one JSON line.
 */
async function serve(prefix: string, cacheTtl: string | undefined) {
  const api = await buildApiApp({
    config: loadApiConfig({
      ...process.env,
      REDIS_URL,
      DATABASE_URL,
      REDIS_KEY_PREFIX: prefix,
      LOG_LEVEL: 'error',
      // Room for every item's list: with two cache generations, twice the item count keeps the whole model.
      NEIGHBOR_CACHE_ENTRIES: String(2 * ITEMS),
      AUTH_REQUIRED: 'false',
      ...(cacheTtl === undefined ? {} : { RECOMMENDATION_CACHE_TTL: cacheTtl }),
    }),
  });
  await api.listen({ host: '127.0.0.1', port: 0 });
  const redis = createRedis(REDIS_URL, { connectionName: 'bench-bare', failFast: true });
  const bare = Fastify({ logger: false });
  bare.get('/bare', async (_request, reply) => {
    const value = await redis.getBuffer(bareKey(prefix));
    return reply.type('application/json').send(value);
  });
  // CPU time of this process, so the run can report server CPU per request (robust to other load on the box).
  bare.get('/cpu', async () => process.cpuUsage());
  await bare.listen({ host: '127.0.0.1', port: 0 });
  announcePorts(api, bare, () => {
    redis.disconnect();
    return Promise.all([api.close(), bare.close()]);
  });
}

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

/** Generator events → user histories in Redis (through the live-state path ingest uses) and popularity counts. */
async function prepare(prefix: string): Promise<string[]> {
  const redis = createRedis(REDIS_URL);
  const keys = createKeys(prefix);
  const layout = buildCatalogLayout({ items: ITEMS, seed: SEED });
  const popularity = new Float64Array(ITEMS);
  const recent = new Float64Array(ITEMS);
  const users = new Set<string>();
  let newestMs = 0;
  let batch: LiveEvent[] = [];
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
    batch.push({ userId: e.userId, itemId: e.itemId, type: e.type, timestampMs: e.timestamp + shift });
    if (batch.length === 5_000) {
      await recordLiveEvents(redis, keys, batch);
      batch = [];
    }
  }
  await recordLiveEvents(redis, keys, batch);

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
  return [...users];
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** server process CPU (user + system) per answered request, µs */
  cpuUs: number;
}

interface Load {
  port: number;
  path: (user: string) => string;
  users: string[];
  /** run this long, users at random */
  seconds?: number;
  /** or send one request per user, in order */
  everyUserOnce?: boolean;
  /** offered rate (req/s) instead of as fast as the server answers */
  rate?: number;
}

async function load(
  { port, path, users, seconds, everyUserOnce, rate }: Load,
  cpuPort: number,
): Promise<Figures> {
  let next = 0;
  const cpu = async () => {
    const { user, system } = (await (
      await fetch(`http://127.0.0.1:${cpuPort}/cpu`)
    ).json()) as NodeJS.CpuUsage;
    return user + system;
  };
  const cpuBefore = await cpu();
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    ...(everyUserOnce ? { amount: users.length } : { duration: seconds ?? PHASE_SECONDS }),
    ...(rate === undefined ? {} : { overallRate: rate }),
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          path: path(
            everyUserOnce ? users[next++ % users.length]! : users[Math.floor(Math.random() * users.length)]!,
          ),
        }),
      },
    ],
  });
  const cpuUs = (await cpu()) - cpuBefore;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuUs: cpuUs / Math.max(1, result.requests.total),
  };
}

type CacheCounts = Record<'hit' | 'miss' | 'off', number>;

/** The API app's reply cache counters, from its Prometheus metrics. */
async function cacheCounts(port: number): Promise<CacheCounts> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counts: CacheCounts = { hit: 0, miss: 0, off: 0 };
  for (const [, result, value] of text.matchAll(
    /^elevens_recommendation_cache_total\{[^}]*result="(hit|miss|off)"[^}]*\} (\d+)/gm,
  ))
    counts[result as keyof CacheCounts] = Number(value);
  return counts;
}

/** `load` on the API app, with the share of its answers that came from the reply cache. */
async function loadApi(spec: Load, cpuPort: number): Promise<Figures & { hitRate: number }> {
  const before = await cacheCounts(spec.port);
  const figures = await load(spec, cpuPort);
  const after = await cacheCounts(spec.port);
  const hits = after.hit - before.hit;
  const answers = hits + after.miss - before.miss + after.off - before.off;
  return { ...figures, hitRate: hits / Math.max(1, answers) };
}

/** Microseconds per call of `fn`, over enough calls to be stable. */
function timePerCall(fn: () => unknown, calls = 20_000): number {
  for (let i = 0; i < 1_000; i++) fn();
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn();
  return Number(process.hrtime.bigint() - started) / 1_000 / calls;
}

async function main() {
  const prefix = `bench:api:${randomBytes(4).toString('hex')}:`;
  const redis = createRedis(REDIS_URL);
  let child: ChildProcess | undefined;
  try {
    await ensureDatabase(DATABASE_URL);
    await migrate(DATABASE_URL);
    const users = await prepare(prefix);
    const servers = await startServerPair(import.meta.url, prefix);
    child = servers.child;
    const recsPath = (user: string) => `/v1/recommendations?userId=${user}&limit=${LIMIT}`;
    const barePath = (user: string) => `/bare?userId=${user}`;

    const sample = await (await fetch(`http://127.0.0.1:${servers.api}${recsPath(users[0]!)}`)).text();
    await redis.set(bareKey(prefix), sample);
    const reply = JSON.parse(sample) as RecommendationsReply;
    const zodSerialize = serializerCompiler({ schema: RecommendationsReply, method: 'GET', url: '/' });
    const zodUs = timePerCall(() => zodSerialize(reply));
    const plainUs = timePerCall(() => JSON.stringify(reply));
    console.log(
      `reply of ${sample.length} bytes (${reply.items.length} items): zod serializer ${zodUs.toFixed(1)} µs, ` +
        `JSON.stringify ${plainUs.toFixed(1)} µs`,
    );

    // Every user once (their history items' lists reach the in-process cache, as a serving process's hot set
    // would; this also fills the reply cache, as earlier traffic would), then a few seconds of the bare route.
    const warmStarted = Date.now();
    await load({ port: servers.api, path: recsPath, users, everyUserOnce: true }, servers.bare);
    await load({ port: servers.bare, path: barePath, users, seconds: WARMUP_SECONDS }, servers.bare);
    console.log(
      `warm-up: ${users.length} users once, ${((Date.now() - warmStarted) / 1000).toFixed(1)} s ` +
        `in all; then ${PHASE_SECONDS} s per phase, ${CONNECTIONS} connections, users at random: a user asked ` +
        `again within RECOMMENDATION_CACHE_TTL (${loadApiConfig(process.env).RECOMMENDATION_CACHE_TTL / 1000} s) ` +
        'with no write in between is a reply cache hit',
    );
    const barePeak = await load({ port: servers.bare, path: barePath, users }, servers.bare);
    const apiPeak = await loadApi({ port: servers.api, path: recsPath, users }, servers.bare);
    // The API process's own floor: a route with no Redis call, through the same plugins (auth, limits, metrics).
    const floorPeak = await load({ port: servers.api, path: () => '/healthz', users }, servers.bare);
    const rate = Math.round(barePeak.rps / 2);
    const bareHalf = await load({ port: servers.bare, path: barePath, users, rate }, servers.bare);
    const apiHalf = await loadApi({ port: servers.api, path: recsPath, users, rate }, servers.bare);

    // The computed path for comparison: the API with the reply cache off, in a process of its own started now
    // (in the same process its heap would lengthen the measured app's garbage collections), warmed up the same way.
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    const uncached = await startServerPair(import.meta.url, prefix, ['0']);
    child = uncached.child;
    await load({ port: uncached.api, path: recsPath, users, everyUserOnce: true }, uncached.bare);
    const uncachedPeak = await loadApi({ port: uncached.api, path: recsPath, users }, uncached.bare);

    const row = (name: string, f: Figures) =>
      `| ${name} | ${Math.round(f.rps)} | ${f.p50} | ${f.p99} | ${Math.round(f.cpuUs)} | ${f.errors} |`;
    const throughputRatio = apiPeak.rps / barePeak.rps;
    const p99Ratio = apiHalf.p99 / Math.max(bareHalf.p99, 1);
    const keptUp = apiHalf.rps >= 0.95 * rate;
    console.log(
      [
        '',
        '| phase | req/s | p50 ms | p99 ms | server CPU µs/req | errors |',
        '| --- | --- | --- | --- | --- | --- |',
        row('bare GET, peak', barePeak),
        row('/v1/recommendations, peak', apiPeak),
        row('api process GET /healthz, peak (its plugins, no Redis)', floorPeak),
        row(`bare GET at ${rate} req/s`, bareHalf),
        row(`/v1/recommendations at ${rate} req/s`, apiHalf),
        row('/v1/recommendations, reply cache off, peak (own process, measured last)', uncachedPeak),
        '',
        `throughput ratio ${throughputRatio.toFixed(2)} (target ≥ 0.60): ${throughputRatio >= 0.6 ? 'met' : 'MISSED'}`,
        `server CPU per request at peak: ${(apiPeak.cpuUs / barePeak.cpuUs).toFixed(2)} × the bare route's`,
        `p99 ratio at half the bare peak ${p99Ratio.toFixed(2)} (target ≤ 1.50): ${p99Ratio <= 1.5 && keptUp ? 'met' : 'MISSED'}` +
          (keptUp ? '' : ` (the route did not sustain the offered ${rate} req/s)`),
        `throughput of the api process's floor route: ${(floorPeak.rps / barePeak.rps).toFixed(2)} × the bare route's`,
        `reply cache off: throughput ratio ${(uncachedPeak.rps / barePeak.rps).toFixed(2)}, server CPU per ` +
          `request ${(uncachedPeak.cpuUs / barePeak.cpuUs).toFixed(2)} × the bare route's`,
        `reply cache hit rate: ${(100 * apiPeak.hitRate).toFixed(1)} % at peak, ${(100 * apiHalf.hitRate).toFixed(1)} % ` +
          `at ${rate} req/s (cache off app: ${(100 * uncachedPeak.hitRate).toFixed(1)} %)`,
        `(autocannon reports whole milliseconds; p99 ratios use max(bare p99, 1 ms) as the denominator)`,
      ].join('\n'),
    );
  } finally {
    child?.kill('SIGTERM');
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
  }
}

if (process.argv[2] === 'serve') await serve(process.argv[3]!, process.argv[4]);
else await main();
