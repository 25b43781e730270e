/**
 * bench:api — GET /v1/recommendations for random users with live histories, on the 200,000-item shop of shop.ts,
 * against the bare route (bare-route.mjs: one Redis GET of a value of the same size, in a process of its own
 * with Node's default flags), with the same load generator (autocannon) in the same run:
 *   1. the API as shipped (reply cache on, default RECOMMENDATION_CACHE_TTL): peak, each route at full speed, then
 *      each route at half the bare route's peak;
 *   2. the computed path: the API with the reply cache off (RECOMMENDATION_CACHE_TTL=0, a process of its own
 *      started after the first one stopped), measured the same way against the bare route again.
 * Each phase alternates the two routes in five slices, so both meet the same contention on the shared machine.
 * At peak autocannon drives each route; at half the bare peak the requests are paced evenly, open loop
 * (paced-load.ts), as shoppers arrive: autocannon spends a rate as a budget per connection and second at full
 * speed from the start of each second, so its "half rate" is the peak for half of each second and its p99 the
 * peak's. The reply cache hit rate of each phase comes from the app's own metric. p50/p99 are raw response times
 * (not autocannon's whole milliseconds), the median of the slices'. Each phase also reports the serving process's CPU time per
 * request (/proc), which other load on a shared machine disturbs less than req/s, and the run ends with the API
 * processes' resident memory. Also measures what fastify-type-provider-zod's reply serialization would cost.
 * The API runs with its production node flags. 127.0.0.1 only; keys under a bench prefix, deleted at the end.
 * BENCH_PHASE_SECONDS (default 10) sets each route's time per phase; BENCH_CPU_PROF=<dir> writes CPU profiles of the
 * API processes there (profile:api does that for the computed path alone). `--cluster` (npm run bench:api --
 * --cluster) starts a local three-master Redis Cluster for the run (the tests' fixture) and puts the shop, the API
 * and the bare route on it; REDIS_CLUSTER_NODES=host:port,… does the same on a running cluster.
 */

import { randomBytes } from 'node:crypto';
import { loadApiConfig } from '@elevens/api';
import { RecommendationsReply } from '@elevens/domain';
import { createRedisClient, deleteKeysWithPrefix } from '@elevens/redis-stores';
import { serializerCompiler } from 'fastify-type-provider-zod';
import { RUNTIME } from './runtime';
import {
  type BenchServer,
  benchRedis,
  benchRedisLabel,
  clusterForRun,
  processMemoryMiB,
  startBareRoute,
} from './servers';
import {
  API_THREADS_LABEL,
  combineSlices,
  dropShopDatabase,
  hitRate,
  LOAD_CONNECTIONS,
  type LoadFigures,
  loadUsers,
  prepareShop,
  replyCacheCounts,
  SHOP_DATABASE_URL,
  startShopApi,
  type UserLoad,
} from './shop';

const LIMIT = 10;
const PHASE_SECONDS = Number(process.env.BENCH_PHASE_SECONDS ?? 10);
const SLICES = 5;
const WARMUP_SECONDS = 5;
const profileFlags = process.env.BENCH_CPU_PROF
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
  : [];

/** `load` on the API app, with the share of its answers that came from the reply cache. */
async function loadApi(spec: UserLoad): Promise<LoadFigures & { hitRate: number }> {
  const before = await replyCacheCounts(spec.server.port);
  const figures = await loadUsers(spec);
  return { ...figures, hitRate: hitRate(before, await replyCacheCounts(spec.server.port)) };
}

/** Microseconds per call of `fn`, over enough calls to be stable. */
function timePerCall(fn: () => unknown, calls = 20_000): number {
  for (let i = 0; i < 1_000; i++) fn();
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn();
  return Number(process.hrtime.bigint() - started) / 1_000 / calls;
}

const recsPath = (user: string) => `/v1/recommendations?userId=${user}&limit=${LIMIT}`;
const barePath = (user: string) => `/bare?userId=${user}`;

/**
 * The bare route and the API in SLICES alternating slices of PHASE_SECONDS / SLICES each: other processes share
 * the machine and its speed drifts over tens of seconds, so both routes meet the same contention (as bench:push
 * and bench:festival measure).
 */
async function alternate(users: string[], api: BenchServer, bare: BenchServer, rate?: number) {
  const duration = PHASE_SECONDS / SLICES;
  const bareSlices: LoadFigures[] = [];
  const apiSlices: (LoadFigures & { hitRate: number })[] = [];
  for (let i = 0; i < SLICES; i++) {
    bareSlices.push(
      await loadUsers({ server: bare, path: barePath, users, duration, ...(rate ? { rate } : {}) }),
    );
    apiSlices.push(
      await loadApi({ server: api, path: recsPath, users, duration, ...(rate ? { rate } : {}) }),
    );
  }
  return { bare: combineSlices(bareSlices), api: combineSlices(apiSlices) };
}

/** Both routes at full speed, then both at half the bare route's peak. */
async function comparePhases(api: BenchServer, bare: BenchServer, users: string[]) {
  const peak = await alternate(users, api, bare);
  const rate = Math.round(peak.bare.rps / 2);
  const half = await alternate(users, api, bare, rate);
  return { barePeak: peak.bare, apiPeak: peak.api, rate, bareHalf: half.bare, apiHalf: half.api };
}

const fmt = (value: number | null, digits = 0) => (value === null ? '–' : value.toFixed(digits));
const row = (name: string, f: LoadFigures) =>
  `| ${name} | ${Math.round(f.rps)} | ${f.p50.toFixed(1)} | ${f.p99.toFixed(1)} | ${fmt(f.cpuUs)} | ${f.errors} |`;

/** The comparison's rows (after `label`) and its verdicts against the targets. */
function report(label: string, phases: Awaited<ReturnType<typeof comparePhases>>) {
  const { barePeak, apiPeak, rate, bareHalf, apiHalf } = phases;
  const throughputRatio = apiPeak.rps / barePeak.rps;
  const p99Ratio = apiHalf.p99 / bareHalf.p99;
  const keptUp = apiHalf.rps >= 0.95 * rate;
  return {
    rows: [
      row(`bare GET, peak (${label})`, barePeak),
      row(`/v1/recommendations, ${label}, peak`, apiPeak),
      row(`bare GET at ${rate} req/s (${label})`, bareHalf),
      row(`/v1/recommendations, ${label}, at ${rate} req/s`, apiHalf),
    ],
    verdicts: [
      `${label}: throughput ratio ${throughputRatio.toFixed(2)} (target ≥ 0.60): ${throughputRatio >= 0.6 ? 'met' : 'MISSED'}; ` +
        `server CPU per request ${apiPeak.cpuUs === null || barePeak.cpuUs === null ? '–' : (apiPeak.cpuUs / barePeak.cpuUs).toFixed(2)} × the bare route's`,
      `${label}: p99 ratio at half the bare peak, paced ${p99Ratio.toFixed(2)} (target ≤ 1.50): ${p99Ratio <= 1.5 && keptUp ? 'met' : 'MISSED'}` +
        (keptUp ? '' : ` (the route did not sustain the offered ${rate} req/s)`),
      `${label}: reply cache hit rate ${(100 * apiPeak.hitRate).toFixed(1)} % at peak, ${(100 * apiHalf.hitRate).toFixed(1)} % at ${rate} req/s`,
    ],
  };
}

const memoryOf = (server: BenchServer) => {
  const memory = processMemoryMiB(server.pid);
  return memory === null ? '–' : `${memory.rss.toFixed(0)} MiB (peak ${memory.peak.toFixed(0)} MiB)`;
};

async function main() {
  console.log(`runtime: ${RUNTIME}; ${API_THREADS_LABEL}`);
  const prefix = `bench:api:${randomBytes(4).toString('hex')}:`;
  const bareKey = `${prefix}bench:bare-value`;
  const stopCluster = await clusterForRun();
  const redis = createRedisClient(benchRedis());
  const servers = new Set<BenchServer>();
  const stop = async (server: BenchServer) => {
    await server.stop();
    servers.delete(server);
  };
  try {
    const { users } = await prepareShop(prefix, SHOP_DATABASE_URL);
    const [api, bare] = await Promise.all([
      startShopApi(prefix, SHOP_DATABASE_URL, { extraNodeFlags: profileFlags }),
      startBareRoute('get', bareKey, benchRedis().url),
    ]);
    servers.add(api).add(bare);

    const sample = await (await fetch(`http://127.0.0.1:${api.port}${recsPath(users[0]!)}`)).text();
    await redis.set(bareKey, sample);
    const reply = JSON.parse(sample) as RecommendationsReply;
    const zodSerialize = serializerCompiler({ schema: RecommendationsReply, method: 'GET', url: '/' });
    const zodUs = timePerCall(() => zodSerialize(reply));
    const plainUs = timePerCall(() => JSON.stringify(reply));
    console.log(benchRedisLabel());
    console.log(
      `reply of ${sample.length} bytes (${reply.items.length} items): zod serializer ${zodUs.toFixed(1)} µs, ` +
        `JSON.stringify ${plainUs.toFixed(1)} µs`,
    );

    // Every user twice (the JIT warms up, and the reply cache fills as earlier traffic would: an answer is stored
    // at its second computation under the user's stamp, RECOMMENDATION_CACHE_MIN_USES), then a few seconds of the
    // bare route.
    const warmStarted = Date.now();
    await loadUsers({ server: api, path: recsPath, users, duration: 'every user once' });
    await loadUsers({ server: api, path: recsPath, users, duration: 'every user once' });
    await loadUsers({ server: bare, path: barePath, users, duration: WARMUP_SECONDS });
    console.log(
      `warm-up: ${users.length} users twice, ${((Date.now() - warmStarted) / 1000).toFixed(1)} s ` +
        `in all; then ${PHASE_SECONDS} s per route and phase in ${SLICES} alternating slices, ${LOAD_CONNECTIONS} ` +
        'connections, users at random: a user asked ' +
        `again within RECOMMENDATION_CACHE_TTL (${loadApiConfig(process.env).RECOMMENDATION_CACHE_TTL / 1000} s) ` +
        'with no write in between is a reply cache hit',
    );
    const cached = await comparePhases(api, bare, users);
    // The API process's own floor: a route with no Redis call, through the same plugins (auth, limits, metrics).
    const floorPeak = await loadUsers({
      server: api,
      path: () => '/healthz',
      users,
      duration: PHASE_SECONDS,
    });
    const cachedMemory = memoryOf(api);
    await stop(api);

    // The computed path: the API with the reply cache off, in a process of its own started now (beside the first
    // one its heap and timers would share the machine's cores with the measured app), warmed up the same way.
    const uncached = await startShopApi(prefix, SHOP_DATABASE_URL, {
      cacheTtl: '0',
      extraNodeFlags: profileFlags,
    });
    servers.add(uncached);
    await loadUsers({ server: uncached, path: recsPath, users, duration: 'every user once' });
    const computed = await comparePhases(uncached, bare, users);
    const uncachedMemory = memoryOf(uncached);

    const cachedReport = report('reply cache on', cached);
    const computedReport = report('reply cache off', computed);
    console.log(
      [
        '',
        '| phase | req/s | p50 ms | p99 ms | server CPU µs/req | errors |',
        '| --- | ---: | ---: | ---: | ---: | ---: |',
        ...cachedReport.rows,
        row('api process GET /healthz, peak (its plugins, no Redis)', floorPeak),
        ...computedReport.rows,
        '',
        ...cachedReport.verdicts,
        ...computedReport.verdicts,
        `throughput of the api process's floor route: ${(floorPeak.rps / cached.barePeak.rps).toFixed(2)} × the bare route's`,
        `api resident memory (200,000-item model, all its lists in process; target ≤ 1 GB): reply cache on ` +
          `${cachedMemory}, reply cache off ${uncachedMemory}; bare route ${memoryOf(bare)}`,
      ].join('\n'),
    );
  } finally {
    await Promise.all([...servers].map((server) => server.stop()));
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await dropShopDatabase(SHOP_DATABASE_URL);
    await stopCluster();
  }
}

await main();
