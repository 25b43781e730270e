/**
 * bench:ingest — the ingest path against raw COPYs of the same rows, in the same run:
 *   1. HTTP: batches of 500 events over POST /v1/events from concurrent clients (the server runs in a child
 *      process: validation, group commit, idempotency keys, partition routing, live state in Redis), with the CPU
 *      each process spent on it (ingest, Postgres, Redis, the load generator) and the events per write transaction;
 *   2. baselines: COPY of the same rows straight into (a) a plain table with the columns and indexes of `events`
 *      and (b) a plain five-column table with a primary key on the event id (the simplest durable, idempotent
 *      store a user could write), in BENCH_INGEST_ROUNDS (default 6) rounds alternating with the HTTP phase,
 *      each round on rows of its own; the run's ratio is the median of the rounds' ratios;
 *   3. single-event ack latency: one client sending one event at a time to the idle server, and 64 clients
 *      sending one event per request at once (the festival's ingest traffic), with the server's CPU per request.
 * Uses its own database (created, migrated and dropped) and Redis key prefix (deleted). 127.0.0.1 only.
 * BENCH_EVENTS (default 200,000) is each round's events; BENCH_CLIENTS (default 16) sets the concurrent clients; any
 * INGEST_* variable is passed on to the server, BENCH_SERVER_NODE_FLAGS to its node; BENCH_CPU_PROF=<dir> runs
 * the server under --cpu-prof, writes its profile there and prints where its time went during the HTTP phase.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '@elevens/config';
import {
  copyEventsIntoPlainTable,
  copyEventsIntoTable,
  createEventsShapedTable,
  createPlainEventsTable,
  createPool,
  type Pool,
} from '@elevens/db';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import type { StoredEvent } from '@elevens/domain';
import { type GeneratedEvent, generateEvents } from '@elevens/generator';
import { createRedis, deleteKeysWithPrefix, type Redis } from '@elevens/redis-stores';
import { metricSample } from '@elevens/testkit/metrics-text';
import { freePort } from '@elevens/testkit/redis-cluster';
import { monotonicUs, type ProfileWindow, profileSummary } from './cpu-profile';
import { openConnections } from './http-loops';
import { midpointMedian } from './latency';
import { RUNTIME } from './runtime';
import { processCpuMs } from './servers';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const BATCH = 500;
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
/** rounds of (raw COPYs, HTTP phase), each on rows of its own; the run's ratio is their median */
const ROUNDS = Number(process.env.BENCH_INGEST_ROUNDS ?? 6);
const WARMUP_BATCHES = 40;
const SINGLE_EVENTS = 400;
/** The festival's ingest traffic: single-event requests from 64 closed loops (bench:festival). */
const CONCURRENT_SINGLE_EVENTS = 20_000;
const CONCURRENT_SINGLE_CLIENTS = 64;
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? resolvePath(process.env.BENCH_CPU_PROF) : null;
const CLI = fileURLToPath(new URL('../../packages/cli/bin/elevens.js', import.meta.url));

const serverUrl = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
serverUrl.pathname = '/postgres';
const dbName = `elevens_bench_ingest_${randomBytes(3).toString('hex')}`;
const databaseUrl = new URL(serverUrl);
databaseUrl.pathname = `/${dbName}`;
const redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
const prefix = `bench:ingest:${randomBytes(3).toString('hex')}:`;

const rate = (events: number, ms: number) => Math.round((events / ms) * 1000);
const fmt = (n: number) => n.toLocaleString('en-US');
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const toStored = (e: GeneratedEvent, idPrefix: string): StoredEvent => ({
  eventId: idPrefix + e.eventId,
  userId: e.userId,
  itemId: e.itemId,
  type: e.type,
  timestampMs: e.timestamp,
  sessionId: e.sessionId,
  recommendationId: null,
  quantity: null,
  price: null,
  properties: null,
});

const DAY_MS = 86_400_000;
/**
 * The first of the run's days: the warm-up, the single-event phase, each round and the concurrent single events
 * take one day each, in the order they are sent, ending a day ago. Time moves forward as a storefront's traffic
 * does: a phase re-sending a day the histories already cover would be a backfill, whose every batch is merged
 * into the users' stored histories (docs/ingest.md) rather than appended.
 */
const FIRST_DAY_MS = Date.now() - (ROUNDS + 4) * DAY_MS;

/** The generator's stream for the run's `day` (0 = the first). */
function benchEvents(count: number, seed: number, idPrefix: string, day: number): StoredEvent[] {
  const startMs = FIRST_DAY_MS + day * DAY_MS;
  return Array.from(
    generateEvents({ users: 20_000, items: 50_000, events: count, seed, days: 1, startMs }),
    (e) => toStored(e, idPrefix),
  );
}

const wireEvent = (e: StoredEvent) => ({
  eventId: e.eventId,
  userId: e.userId,
  itemId: e.itemId,
  type: e.type,
  timestamp: e.timestampMs,
  sessionId: e.sessionId,
});

function batchBodies(events: readonly StoredEvent[]): string[] {
  const bodies: string[] = [];
  for (let i = 0; i < events.length; i += BATCH)
    bodies.push(JSON.stringify({ events: events.slice(i, i + BATCH).map(wireEvent) }));
  return bodies;
}

async function startServer(port: number): Promise<ChildProcess> {
  const nodeFlags = [
    ...(process.env.BENCH_SERVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
    ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []),
  ];
  const child = spawn(process.execPath, [...nodeFlags, CLI, 'serve', 'ingest'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl.toString(),
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      HOST: '127.0.0.1',
      PORT: String(port),
      AUTH_REQUIRED: 'false',
      // The bench drives the server to saturation on purpose; load shedding would turn that into 503s.
      PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error('ingest did not start within 30 s');
}

const percentile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/**
 * Sends every body over `clients` keep-alive connections, one request at a time each (http-loops.ts: a client
 * that costs a fraction of fetch's CPU, which shares the two cores with the server); returns wall time and the
 * events the server acknowledged.
 */
async function sendAll(port: number, bodies: readonly string[], clients: number) {
  const connections = await openConnections(port, clients);
  let next = 0;
  let acknowledged = 0;
  let failed = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    connections.map(async (connection) => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const sent = performance.now();
        const answer = await connection.request('POST', '/v1/events', body);
        latencies.push(performance.now() - sent);
        const reply = JSON.parse(answer.body.toString()) as { accepted?: number; duplicates?: number };
        if (answer.status === 200) acknowledged += (reply.accepted ?? 0) + (reply.duplicates ?? 0);
        else failed++;
      }
    }),
  );
  const ms = performance.now() - started;
  for (const connection of connections) connection.close();
  latencies.sort((a, b) => a - b);
  return { ms, acknowledged, failed, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

/**
 * CPU ms so far of the Postgres processes serving the bench database (backends, autovacuum workers, WAL writer,
 * checkpointer, background writer), with each one's backend_type. A process that starts and ends between two
 * snapshots (a short autovacuum run) is missed.
 */
async function postgresCpu(pool: Pool): Promise<Map<number, { type: string; ms: number }>> {
  const { rows } = await pool.query<{ pid: number; backend_type: string }>(
    `SELECT pid, backend_type FROM pg_stat_activity
     WHERE datname = $1 OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
    [dbName],
  );
  const cpu = new Map<number, { type: string; ms: number }>();
  for (const { pid, backend_type } of rows) {
    const ms = processCpuMs(pid);
    if (ms !== null) cpu.set(pid, { type: backend_type, ms });
  }
  return cpu;
}

/** Redis's own CPU ms so far (INFO cpu); on a shared Redis it includes others' commands. */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

/**
 * One past the newest transaction id Postgres has completed: it grows by one per group the server wrote.
 * pg_stat_database's commit count would be the bench database's alone, but backends report it up to 10 s late;
 * this counts every database's writing transactions (on a shared server, others' writes too).
 */
async function writeTransactions(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot()) AS n');
  return Number(rows[0]!.n);
}

interface CpuSnapshot {
  writes: number;
  server: number | null;
  postgres: Map<number, { type: string; ms: number }>;
  redis: number;
  client: number;
}

async function cpuSnapshot(pool: Pool, redis: Redis, serverPid: number | null): Promise<CpuSnapshot> {
  const usage = process.cpuUsage();
  return {
    writes: await writeTransactions(pool),
    server: serverPid === null ? null : processCpuMs(serverPid),
    postgres: await postgresCpu(pool),
    redis: await redisCpu(redis),
    client: (usage.user + usage.system) / 1000,
  };
}

/** CPU ms spent per process kind between two snapshots (a backend that started in between counts from 0). */
function cpuSpent(before: CpuSnapshot, after: CpuSnapshot) {
  let postgres = 0;
  const postgresByType = new Map<string, number>();
  for (const [pid, { type, ms }] of after.postgres) {
    const spent = ms - (before.postgres.get(pid)?.ms ?? 0);
    postgres += spent;
    postgresByType.set(type, (postgresByType.get(type) ?? 0) + spent);
  }
  return {
    writes: after.writes - before.writes,
    server: before.server === null || after.server === null ? null : after.server - before.server,
    postgres,
    postgresByType,
    redis: after.redis - before.redis,
    client: after.client - before.client,
  };
}

type CpuSpent = ReturnType<typeof cpuSpent>;

/** Two phases' CPU as one (`total` null: `spent` alone). */
function addSpent(total: CpuSpent | null, spent: CpuSpent): CpuSpent {
  if (total === null) return spent;
  const postgresByType = new Map(total.postgresByType);
  for (const [type, ms] of spent.postgresByType)
    postgresByType.set(type, (postgresByType.get(type) ?? 0) + ms);
  return {
    writes: total.writes + spent.writes,
    server: total.server === null || spent.server === null ? null : total.server + spent.server,
    postgres: total.postgres + spent.postgres,
    postgresByType,
    redis: total.redis + spent.redis,
    client: total.client + spent.client,
  };
}

const cpuLine = (spent: CpuSpent, count: number, wallMs: number, unit = 'event') => {
  const part = (name: string, ms: number | null) =>
    ms === null ? `${name} –` : `${name} ${((ms * 1000) / count).toFixed(1)} µs`;
  const total = (spent.server ?? 0) + spent.postgres + spent.redis + spent.client;
  return (
    `CPU per ${unit}: ${part('ingest', spent.server)}, ${part('postgres', spent.postgres)}, ` +
    `${part('redis', spent.redis)}, ${part('load generator', spent.client)}; ` +
    `${(total / wallMs).toFixed(2)} cores busy of 2; ${(count / spent.writes).toFixed(1)} ${unit}s per write ` +
    `transaction\n  postgres by process: ` +
    [...spent.postgresByType]
      .sort((a, b) => b[1] - a[1])
      .map(([type, ms]) => part(type, ms))
      .join(', ')
  );
};

const GROUP_STAGES = ['wait', 'write', 'live_state'] as const;
type GroupStageTotals = Record<(typeof GROUP_STAGES)[number], { seconds: number; groups: number }>;

/** The server's group-commit totals by stage (its /metrics): a phase's groups are the difference of two reads. */
async function groupStageTotals(port: number): Promise<GroupStageTotals> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sample = (name: string, stage: string) => metricSample(text, name, { stage }) ?? 0;
  const totals = {} as GroupStageTotals;
  for (const stage of GROUP_STAGES)
    totals[stage] = {
      seconds: sample('elevens_ingest_group_seconds_sum', stage),
      groups: sample('elevens_ingest_group_seconds_count', stage),
    };
  return totals;
}

/** Each stage's mean per group between two reads, in ms. */
function groupStagesLine(before: GroupStageTotals, after: GroupStageTotals): string {
  const groups = after.write.groups - before.write.groups;
  const mean = (stage: (typeof GROUP_STAGES)[number]) =>
    ((1000 * (after[stage].seconds - before[stage].seconds)) / Math.max(1, groups)).toFixed(2);
  return (
    `per group (the server's metrics, ${fmt(groups)} groups): its oldest request waited ${mean('wait')} ms for the ` +
    `write, the transaction took ${mean('write')} ms, the live state ${mean('live_state')} ms`
  );
}

async function main() {
  console.log(`runtime: ${RUNTIME}`);
  await ensureDatabase(databaseUrl.toString());
  await migrate(databaseUrl.toString());
  const pool = createPool(databaseUrl.toString(), { max: 8, applicationName: 'bench-ingest' });
  const redis = createRedis(redisUrl);
  let server: ChildProcess | null = null;
  try {
    console.log(
      `bench:ingest — ${fmt(EVENTS)} events, batches of ${BATCH}, ${CLIENTS} concurrent clients; load average ${load()}`,
    );
    const warmupBodies = batchBodies(benchEvents(WARMUP_BATCHES * BATCH, 12, 'w-', 0));
    const singleBodies = benchEvents(SINGLE_EVENTS, 13, 's-', 1).map((e) => JSON.stringify(wireEvent(e)));
    const concurrentSingleBodies = benchEvents(CONCURRENT_SINGLE_EVENTS, 14, 'c-', ROUNDS + 2).map((e) =>
      JSON.stringify(wireEvent(e)),
    );

    // Rounds alternate the raw COPYs and the HTTP phase, each round on rows of its own (the tables grow as `events`
    // does), and which goes first alternates too: this machine's speed drifts by up to 1.5 × within seconds, and a
    // ratio of phases taken side by side, round after round, holds where one HTTP phase between two COPYs did not.
    await createEventsShapedTable(pool, 'bench_copy');
    await createPlainEventsTable(pool, 'bench_plain');
    const rounds: { httpMs: number; shapedMs: number; plainMs: number }[] = [];
    let copyCpu: CpuSpent | null = null;
    let httpCpu: CpuSpent | null = null;
    const httpLatencies = { p50: [] as number[], p99: [] as number[] };
    const profileWindows: ProfileWindow[] = [];
    const rawCopies = async (rows: readonly StoredEvent[]) => {
      const before = await cpuSnapshot(pool, redis, null);
      let started = performance.now();
      await copyEventsIntoTable(pool, 'bench_copy', rows);
      const shapedMs = performance.now() - started;
      copyCpu = addSpent(copyCpu, cpuSpent(before, await cpuSnapshot(pool, redis, null)));
      started = performance.now();
      await copyEventsIntoPlainTable(pool, 'bench_plain', rows);
      return { shapedMs, plainMs: performance.now() - started };
    };

    if (CPU_PROF_DIR) mkdirSync(CPU_PROF_DIR, { recursive: true });
    const port = await freePort();
    server = await startServer(port);
    const serverPid = server.pid!;
    await sendAll(port, warmupBodies, CLIENTS);
    const single = await sendAll(port, singleBodies, 1);
    const httpPhase = async (bodies: readonly string[]) => {
      const before = await cpuSnapshot(pool, redis, serverPid);
      const fromUs = monotonicUs();
      const http = await sendAll(port, bodies, CLIENTS);
      profileWindows.push([fromUs, monotonicUs()]);
      httpCpu = addSpent(httpCpu, cpuSpent(before, await cpuSnapshot(pool, redis, serverPid)));
      if (http.failed > 0 || http.acknowledged !== EVENTS)
        throw new Error(
          `HTTP phase: ${http.failed} failed requests, ${http.acknowledged} of ${EVENTS} acknowledged`,
        );
      httpLatencies.p50.push(http.p50);
      httpLatencies.p99.push(http.p99);
      return http.ms;
    };
    const groupsBefore = await groupStageTotals(port);
    for (let round = 0; round < ROUNDS; round++) {
      const rows = benchEvents(EVENTS, 100 + round, `h${round}-`, 2 + round);
      const bodies = batchBodies(rows);
      if (round % 2 === 0) {
        const copies = await rawCopies(rows);
        rounds.push({ httpMs: await httpPhase(bodies), ...copies });
      } else {
        const httpMs = await httpPhase(bodies);
        rounds.push({ httpMs, ...(await rawCopies(rows)) });
      }
    }
    const httpGroups = groupStagesLine(groupsBefore, await groupStageTotals(port));
    const loadAfterHttp = load();
    const groupsBeforeSingles = await groupStageTotals(port);
    const beforeSingles = await cpuSnapshot(pool, redis, serverPid);
    const singlesFromUs = monotonicUs();
    const singles = await sendAll(port, concurrentSingleBodies, CONCURRENT_SINGLE_CLIENTS);
    const singlesToUs = monotonicUs();
    const singlesCpu = cpuSpent(beforeSingles, await cpuSnapshot(pool, redis, serverPid));
    const singlesGroups = groupStagesLine(groupsBeforeSingles, await groupStageTotals(port));
    server.kill('SIGTERM');
    await once(server, 'exit');
    server = null;
    if (single.failed > 0 || singles.failed > 0)
      throw new Error(`${single.failed + singles.failed} single-event requests failed`);

    const totalMs = (key: 'httpMs' | 'shapedMs' | 'plainMs') => rounds.reduce((sum, r) => sum + r[key], 0);
    const events = EVENTS * ROUNDS;
    console.log(
      '| round | HTTP ingest (events/s) | raw COPY (events/s) | plain table (events/s) | ratio | plain table ratio |',
    );
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [i, r] of rounds.entries())
      console.log(
        `| ${i + 1}${i % 2 === 0 ? ' (COPY first)' : ''} | ${fmt(rate(EVENTS, r.httpMs))} | ${fmt(rate(EVENTS, r.shapedMs))} | ` +
          `${fmt(rate(EVENTS, r.plainMs))} | ${(r.shapedMs / r.httpMs).toFixed(2)} | ${(r.plainMs / r.httpMs).toFixed(2)} |`,
      );
    console.log(
      `HTTP ingest   ${fmt(rate(events, totalMs('httpMs'))).padStart(9)} events/s over the rounds  (request p50 ${midpointMedian(httpLatencies.p50).toFixed(0)} ms, p99 ${midpointMedian(httpLatencies.p99).toFixed(0)} ms, the rounds' medians; load average after it ${loadAfterHttp})`,
    );
    console.log(`  ${cpuLine(httpCpu!, events, totalMs('httpMs'))}`);
    console.log(`  ${httpGroups}`);
    console.log(
      `raw COPY      ${fmt(rate(events, totalMs('shapedMs'))).padStart(9)} events/s  (table shaped like events)`,
    );
    console.log(
      `  CPU per event: postgres ${((copyCpu!.postgres * 1000) / events).toFixed(1)} µs, ` +
        `COPY client ${((copyCpu!.client * 1000) / events).toFixed(1)} µs`,
    );
    console.log(
      `plain table   ${fmt(rate(events, totalMs('plainMs'))).padStart(9)} events/s  (five columns, primary key on the id)`,
    );
    console.log(
      `ratio HTTP / raw COPY = ${midpointMedian(rounds.map((r) => r.shapedMs / r.httpMs)).toFixed(2)} (the median of ${ROUNDS} rounds; target >= 0.5); ` +
        `HTTP / plain table = ${midpointMedian(rounds.map((r) => r.plainMs / r.httpMs)).toFixed(2)}`,
    );
    console.log(
      `single-event ack, one client, idle server: p50 ${single.p50.toFixed(2)} ms, p99 ${single.p99.toFixed(2)} ms (${SINGLE_EVENTS} requests)`,
    );
    console.log(
      `single-event requests, ${CONCURRENT_SINGLE_CLIENTS} clients: ${fmt(rate(CONCURRENT_SINGLE_EVENTS, singles.ms))}/s, ack p50 ${singles.p50.toFixed(2)} ms, p99 ${singles.p99.toFixed(2)} ms (${fmt(CONCURRENT_SINGLE_EVENTS)} requests)`,
    );
    console.log(`  ${cpuLine(singlesCpu, CONCURRENT_SINGLE_EVENTS, singles.ms, 'request')}`);
    console.log(`  ${singlesGroups}`);
    console.log(`load average at the end ${load()}`);
    if (CPU_PROF_DIR) {
      const summary = (windows: readonly ProfileWindow[], units: number, of: string) =>
        profileSummary({ dir: CPU_PROF_DIR, pid: serverPid, windows, units, unit: 'event', of });
      console.log(`\n${summary(profileWindows, events, 'the HTTP phases')}`);
      console.log(`\nsingle-event requests, ${CONCURRENT_SINGLE_CLIENTS} clients (µs per request):`);
      console.log(
        summary([[singlesFromUs, singlesToUs]], CONCURRENT_SINGLE_EVENTS, 'the single-event phase'),
      );
    }
  } finally {
    if (server) server.kill('SIGKILL');
    await pool.end();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await dropDatabase(serverUrl.toString(), dbName);
  }
}

await main();
