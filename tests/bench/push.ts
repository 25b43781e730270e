/**
 * bench:push — POST /v1/push/decisions with three rules and quiet hours configured, for random users (half with
 * a profile time zone), against a bare Fastify route that parses the same body and runs one trivial EVALSHA, in
 * the same run:
 *   1. peak: each route at full speed (decisions/s, p50, p99, server CPU per request), and, for reference, the
 *      trivial EVALSHA behind the API's own request pipeline;
 *   2. same offered rate: each route at half the bare route's peak (p99).
 * Other processes share the machine, so each phase alternates the routes in ROUNDS short slices: all see
 * the same contention. Throughput is requests over time summed across slices. p50/p99 are the slices' medians of
 * the raw response times: one slice disturbed by another process moves them less than a pooled figure. At peak
 * autocannon drives each route; at half the bare peak the requests are paced evenly, open loop (paced-load.ts),
 * as shoppers' decisions arrive: autocannon spends a rate as a budget per connection and second at full speed
 * from the start of each second, so its "half rate" is the peak for half of each second.
 * The API is evaluated at a fixed clock (`now` of buildApiApp): CLOCK_START, 2026-11-11 13:30 UTC, advancing
 * with the run. For the next 30 minutes every user's zone is between 08:00 and 22:00, so the configured quiet
 * hours (22:00–08:00) are evaluated on every decision and refuse none, whatever the hour the run starts at; the
 * run prints the decision mix (allowed and each refusal reason) of each phase.
 * The API runs in a child process with its production node flags, the bare route (bare-route.mjs) in another
 * with Node's default flags; the load comes from this one. 127.0.0.1 only; its own database
 * (elevens_bench_push, dropped at the end) and keys under a bench prefix (deleted at the end).
 * BENCH_PHASE_SECONDS (default 20: ten 2 s slices per route, so one disturbed slice moves a median little) sets
 * each phase's length; BENCH_CPU_PROF=<dir> writes a CPU profile of the API process there.
 * `--cluster` (npm run bench:push -- --cluster) starts a local three-master Redis Cluster for the run (the tests'
 * fixture) and runs everything on it; REDIS_CLUSTER_NODES=host:port,… does the same on a running cluster instead of
 * REDIS_URL: the API (through its config), the bare route and this process's own clients. The run checks that the
 * API published its config there and that the bare route's scripts reached it (INFO commandstats of every master),
 * and stops if not.
 */

import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { DEFAULT_DATABASE_URL } from '@elevens/config';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import { PUSH_REASONS } from '@elevens/domain';
import {
  createKeys,
  createRedisClient,
  deleteKeysWithPrefix,
  type RedisClient,
  serversOf,
} from '@elevens/redis-stores';
import autocannon from 'autocannon';
import { median, quantile } from './latency';
import { runPaced } from './paced-load';
import { RUNTIME } from './runtime';
import {
  API_NODE_FLAGS,
  announcePort,
  type BenchServer,
  benchRedis,
  benchRedisLabel,
  clusterForRun,
  processCpuMs,
  startBareRoute,
  startService,
} from './servers';

const USERS = 20_000;
const CONNECTIONS = 64;
const PHASE_SECONDS = Number(process.env.BENCH_PHASE_SECONDS ?? 20);
const WARMUP_SECONDS = 5;
const ROUNDS = 10;
const DATABASE_NAME = 'elevens_bench_push';
const TIME_ZONES = [
  'Europe/Berlin',
  'America/New_York',
  'Asia/Shanghai',
  'Asia/Kolkata',
  'America/Sao_Paulo',
];

/**
 * The API's clock starts here: on 2026-11-11 at 13:30 UTC it is 08:30 in New York, 10:30 in São Paulo, 14:30 in
 * Berlin, 19:00 in Kolkata, 21:30 in Shanghai and 13:30 in UTC (the default zone): no user is in quiet hours.
 */
const CLOCK_START = Date.parse('2026-11-11T13:30:00Z');

const databaseUrl = () => {
  const url = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
  url.pathname = `/${DATABASE_NAME}`;
  return url.toString();
};

/**
 * Child mode: the API app at the fixed clock, with a reference route: the bare route's trivial EVALSHA behind
 * the API's whole request pipeline (auth, rate limits, metrics, logging), which shows how much of the gap to the
 * bare route is the platform's and how much the decision's. Prints its port.
 */
async function serve(prefix: string) {
  const startedAt = performance.now();
  const api = await buildApiApp({
    config: loadApiConfig({
      ...process.env,
      DATABASE_URL: databaseUrl(),
      REDIS_URL: benchRedis().url,
      REDIS_KEY_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      AUTH_REQUIRED: 'false',
      // measured at saturation on purpose: shedding load would answer 503s instead of decisions
      PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
    }),
    now: () => CLOCK_START + Math.floor(performance.now() - startedAt),
  });
  const redis = createRedisClient(benchRedis(), { connectionName: 'bench-floor', failFast: true });
  redis.defineCommand('benchTrivial', { numberOfKeys: 1, lua: 'return 1' });
  const trivial = (userId: string) =>
    (redis as unknown as { benchTrivial(key: string): Promise<number> }).benchTrivial(
      `${prefix}bare:{${userId}}`,
    );
  api.post('/bench/floor', { config: { scope: 'push:decide' } }, async (request) => ({
    allowed: (await trivial((request.body as { userId: string }).userId)) === 1,
  }));
  await api.listen({ host: '127.0.0.1', port: 0 });
  announcePort(api, () => {
    redis.disconnect();
    return api.close();
  });
}

/** Three rules and quiet hours, set through the API as a marketer would; half the users get a time zone. */
async function configure(apiPort: number, prefix: string) {
  const put = async (path: string, body: unknown) => {
    const response = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`PUT ${path}: ${response.status} ${await response.text()}`);
  };
  await put('/v1/push/rules/push-hourly', { channel: 'push', limit: 3, window: '1h' });
  await put('/v1/push/rules/any-daily', { channel: 'any', limit: 10, window: '24h' });
  await put('/v1/push/rules/sale-weekly', { channel: 'any', limit: 5, window: '7d', category: 'sale' });
  await put('/v1/push/quiet-hours', { start: '22:00', end: '08:00', channels: ['push', 'sms'] });
  const redis = createRedisClient(benchRedis());
  const keys = createKeys(prefix);
  try {
    if ((await redis.get(keys.pushConfigVersion())) === null)
      throw new Error(
        'the API did not publish its push config to this Redis: is it using REDIS_CLUSTER_NODES?',
      );
    // One command each, not a pipeline: on a cluster the users' keys are on different nodes.
    const writes: Promise<number>[] = [];
    for (let u = 0; u < USERS; u += 2)
      writes.push(
        redis.hset(keys.userProfile(`user-${u}`), {
          push: '1',
          timezone: TIME_ZONES[u % TIME_ZONES.length]!,
        }),
      );
    await Promise.all(writes);
  } finally {
    redis.disconnect();
  }
}

/** EVALSHA calls Redis (every master of a cluster) has answered so far. */
async function evalshaCalls(redis: RedisClient): Promise<number> {
  let calls = 0;
  for (const server of serversOf(redis))
    calls += Number(/cmdstat_evalsha:calls=(\d+)/.exec(await server.info('commandstats'))?.[1] ?? 0);
  return calls;
}

interface Figures {
  rps: number;
  /** raw response times, ms */
  p50: number;
  p99: number;
  errors: number;
  /** server process CPU per request (µs); null where /proc is unavailable */
  cpuUs: number | null;
}

interface Slice {
  requests: number;
  seconds: number;
  /** every 2xx response time of the slice, ms */
  latencies: number[];
  errors: number;
  cpuMs: number | null;
}

function combine(slices: Slice[]): Figures {
  const requests = slices.reduce((sum, x) => sum + x.requests, 0);
  const cpu = slices.every((x) => x.cpuMs !== null) ? slices.reduce((sum, x) => sum + x.cpuMs!, 0) : null;
  const sorted = slices.map((x) => Float64Array.from(x.latencies).sort());
  return {
    rps: requests / slices.reduce((sum, x) => sum + x.seconds, 0),
    p50: median(sorted.map((latencies) => quantile(latencies, 0.5))),
    p99: median(sorted.map((latencies) => quantile(latencies, 0.99))),
    errors: slices.reduce((sum, x) => sum + x.errors, 0),
    cpuUs: cpu === null || requests === 0 ? null : (cpu * 1000) / requests,
  };
}

const CHANNELS = ['push', 'push', 'push', 'email', 'sms', 'inapp'];

interface Route {
  server: BenchServer;
  path: string;
}

/** The n-th request's decision: a random user, channels, campaigns and categories in a fixed rotation. */
function decisionBody(n: number): string {
  return JSON.stringify({
    userId: `user-${Math.floor(Math.random() * USERS)}`,
    channel: CHANNELS[n % CHANNELS.length],
    campaignId: `campaign-${n % 97}`,
    ...(n % 3 === 0 ? { category: 'sale' } : {}),
  });
}

/** One route for `seconds`: at full speed (autocannon), or paced at `rate` (open loop). */
async function load(route: Route, seconds: number, rate?: number): Promise<Slice> {
  return rate === undefined ? loadAtPeak(route, seconds) : loadPaced(route, seconds, rate);
}

async function loadAtPeak({ server, path }: Route, seconds: number): Promise<Slice> {
  let n = 0;
  const cpuBefore = processCpuMs(server.pid);
  const latencies: number[] = [];
  const options: autocannon.Options = {
    url: `http://127.0.0.1:${server.port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: decisionBody(++n) }),
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const run = autocannon(options, (error, done) => (error ? reject(error) : resolve(done)));
    run.on('response', (_client, statusCode: number, _bytes, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  const cpuAfter = processCpuMs(server.pid);
  return {
    requests: result.requests.total,
    seconds: result.duration,
    latencies,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
  };
}

async function loadPaced({ server, path }: Route, seconds: number, rate: number): Promise<Slice> {
  const result = await runPaced({
    server,
    connections: CONNECTIONS,
    rate,
    seconds,
    request: (i) => ({ method: 'POST', path, body: decisionBody(i + 1) }),
  });
  return {
    requests: result.ok,
    seconds: result.seconds,
    latencies: result.latencies,
    errors: result.errors,
    cpuMs: result.serverCpuMs,
  };
}

/** Alternates the routes in ROUNDS slices of `seconds / ROUNDS` each. */
async function phase(routes: readonly Route[], seconds: number, rate?: number): Promise<Figures[]> {
  const slices: Slice[][] = routes.map(() => []);
  const slice = Math.max(1, Math.round(seconds / ROUNDS));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, route] of routes.entries()) slices[i]!.push(await load(route, slice, rate));
  }
  return slices.map(combine);
}

/** Decisions counted by reason (PUSH_REASONS) in the hours around the fixed clock, from the API's own stats. */
async function decisionsByReason(api: BenchServer): Promise<Record<string, number>> {
  const from = new Date(CLOCK_START - 3_600_000).toISOString();
  const to = new Date(CLOCK_START + 3_600_000).toISOString();
  const response = await fetch(`http://127.0.0.1:${api.port}/v1/push/stats?from=${from}&to=${to}`);
  return ((await response.json()) as { byReason: Record<string, number> }).byReason;
}

/** "ok 1,234 (12.3 %), cap_exceeded …": the decisions between two counts, by reason. */
function decisionMix(before: Record<string, number>, after: Record<string, number>): string {
  const counts = PUSH_REASONS.map(
    (reason) => [reason, (after[reason] ?? 0) - (before[reason] ?? 0)] as const,
  );
  const total = counts.reduce((sum, [, count]) => sum + count, 0);
  return `${total.toLocaleString('en-US')} decisions: ${counts
    .map(
      ([reason, count]) =>
        `${reason} ${count.toLocaleString('en-US')} (${((100 * count) / Math.max(1, total)).toFixed(1)} %)`,
    )
    .join(', ')}`;
}

async function main() {
  console.log(`runtime: ${RUNTIME}`);
  const prefix = `bench:push:${randomBytes(4).toString('hex')}:`;
  const stopCluster = await clusterForRun();
  await ensureDatabase(databaseUrl());
  await migrate(databaseUrl());
  const redis = createRedisClient(benchRedis());
  const servers: BenchServer[] = [];
  try {
    const profileFlags = process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
      : [];
    const [api, bare] = await Promise.all([
      startService(import.meta.url, 'serve', [prefix], { nodeFlags: [...API_NODE_FLAGS, ...profileFlags] }),
      startBareRoute('evalsha', prefix, benchRedis().url),
    ]);
    servers.push(api, bare);
    await configure(api.port, prefix);
    console.log(
      `${benchRedisLabel()}; ` +
        `${USERS} users, 3 rules + quiet hours, API clock from ${new Date(CLOCK_START).toISOString()}; warm-up ` +
        `${WARMUP_SECONDS} s each, then ${PHASE_SECONDS} s per route and phase in ${ROUNDS} alternating slices, ` +
        `${CONNECTIONS} connections; load average ${loadavg()[0]!.toFixed(1)}`,
    );
    const bareRoute = { server: bare, path: '/bare' };
    const decisionRoute = { server: api, path: '/v1/push/decisions' };
    const floorRoute = { server: api, path: '/bench/floor' };
    await load(decisionRoute, WARMUP_SECONDS);
    const callsBefore = await evalshaCalls(redis);
    const bareWarmUp = await load(bareRoute, WARMUP_SECONDS);
    if ((await evalshaCalls(redis)) - callsBefore < bareWarmUp.requests)
      throw new Error(
        'the bare route does not run its script on this Redis: is it using REDIS_CLUSTER_NODES?',
      );
    const reasonsBefore = await decisionsByReason(api);
    const [barePeak, apiPeak, floorPeak] = (await phase(
      [bareRoute, decisionRoute, floorRoute],
      PHASE_SECONDS,
    )) as [Figures, Figures, Figures];
    const reasonsAtPeak = await decisionsByReason(api);
    const rate = Math.round(barePeak.rps / 2);
    const [bareHalf, apiHalf] = (await phase([bareRoute, decisionRoute], PHASE_SECONDS, rate)) as [
      Figures,
      Figures,
    ];
    const reasonsAfter = await decisionsByReason(api);

    const row = (name: string, f: Figures) =>
      `| ${name} | ${Math.round(f.rps)} | ${f.p50.toFixed(1)} | ${f.p99.toFixed(1)} | ${f.cpuUs === null ? '–' : Math.round(f.cpuUs)} | ${f.errors} |`;
    const throughputRatio = apiPeak.rps / barePeak.rps;
    const p99Ratio = apiHalf.p99 / bareHalf.p99;
    const keptUp = apiHalf.rps >= 0.95 * rate;
    console.log(
      [
        '',
        '| phase | req/s | p50 ms | p99 ms | server CPU µs/req | errors |',
        '| --- | ---: | ---: | ---: | ---: | ---: |',
        row('bare EVALSHA, peak', barePeak),
        row('/v1/push/decisions, peak', apiPeak),
        row('(API pipeline + trivial EVALSHA, peak)', floorPeak),
        row(`bare EVALSHA at ${rate} req/s`, bareHalf),
        row(`/v1/push/decisions at ${rate} req/s`, apiHalf),
        '',
        `decision mix at peak: ${decisionMix(reasonsBefore, reasonsAtPeak)}`,
        `decision mix at ${rate} req/s: ${decisionMix(reasonsAtPeak, reasonsAfter)}`,
        `throughput ratio ${throughputRatio.toFixed(2)} (target ≥ 0.70): ${throughputRatio >= 0.7 ? 'met' : 'MISSED'}`,
        `p99 ratio at half the bare peak, paced ${p99Ratio.toFixed(2)} (target ≤ 1.50): ${p99Ratio <= 1.5 && keptUp ? 'met' : 'MISSED'}` +
          (keptUp ? '' : ` (the API did not sustain the offered ${rate} req/s)`),
      ].join('\n'),
    );
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await stopCluster();
    await dropDatabase(databaseUrl(), DATABASE_NAME);
  }
}

if (process.argv[2] === 'serve') await serve(process.argv[3]!);
else await main();
