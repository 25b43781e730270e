/**
 * bench:ingest — the ingest path against a raw COPY of the same rows, in the same run:
 *   1. HTTP: batches of 500 events over POST /v1/events from concurrent clients (the server runs in a child
 *      process: validation, group commit, idempotency keys, partition routing, live state in Redis);
 *   2. baseline: COPY of the same rows straight into a plain table with the columns and indexes of `events`;
 *   3. write method: the group-commit write (insertEventGroups) with one INSERT statement fed the group as array
 *      parameters vs a known-id check + COPY straight into event_ids and events, on groups of the size group
 *      commit forms.
 * Uses its own database (created, migrated and dropped) and Redis key prefix (deleted). 127.0.0.1 only.
 * BENCH_EVENTS (default 200,000) bounds the run; BENCH_CLIENTS (default 16) sets the concurrent clients;
 * INGEST_WRITE_METHOD (insert|copy) is passed on to the server; BENCH_SERVER_NODE_FLAGS (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof") are given to the server's node.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createRedis, deleteKeysWithPrefix } from '@elevens/cache';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '@elevens/config';
import {
  copyEventsIntoTable,
  createEventsShapedTable,
  createPool,
  dropDatabase,
  type EventWriteMethod,
  ensureDatabase,
  insertEventGroups,
  migrate,
} from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import { type GeneratedEvent, generateEvents } from '@elevens/generator';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const BATCH = 500;
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const WARMUP_BATCHES = 40;
const WRITE_GROUP_EVENTS = 5_000;
const WRITE_METHOD_EVENTS = Math.min(EVENTS, 100_000);
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

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  return port;
}

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

/** The generator's stream, re-timed into the last day so every row lands in an existing monthly partition. */
function benchEvents(count: number, seed: number, idPrefix: string): StoredEvent[] {
  const dayAgo = Date.now() - 86_400_000;
  return Array.from(
    generateEvents({ users: 20_000, items: 50_000, events: count, seed, days: 1, startMs: dayAgo }),
    (e) => toStored(e, idPrefix),
  );
}

const wireBody = (events: readonly StoredEvent[]) =>
  JSON.stringify({
    events: events.map((e) => ({
      eventId: e.eventId,
      userId: e.userId,
      itemId: e.itemId,
      type: e.type,
      timestamp: e.timestampMs,
      sessionId: e.sessionId,
    })),
  });

async function startServer(port: number): Promise<ChildProcess> {
  const nodeFlags = process.env.BENCH_SERVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
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

/** Sends every body from CLIENTS concurrent clients; returns wall time and the events the server acknowledged. */
async function sendAll(url: string, bodies: readonly string[]) {
  let next = 0;
  let accepted = 0;
  let failed = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const sent = performance.now();
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const reply = (await response.json()) as { accepted?: number; duplicates?: number };
        latencies.push(performance.now() - sent);
        if (response.ok) accepted += (reply.accepted ?? 0) + (reply.duplicates ?? 0);
        else failed++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { ms: performance.now() - started, accepted, failed, p50: p(0.5), p99: p(0.99) };
}

async function main() {
  await ensureDatabase(databaseUrl.toString());
  await migrate(databaseUrl.toString());
  const pool = createPool(databaseUrl.toString(), { max: 8, applicationName: 'bench-ingest' });
  const redis = createRedis(redisUrl);
  let server: ChildProcess | null = null;
  try {
    console.log(`bench:ingest — ${fmt(EVENTS)} events, batches of ${BATCH}, ${CLIENTS} concurrent clients`);
    const events = benchEvents(EVENTS, 11, 'h-');
    const bodies: string[] = [];
    for (let i = 0; i < events.length; i += BATCH) bodies.push(wireBody(events.slice(i, i + BATCH)));
    const warmup = benchEvents(WARMUP_BATCHES * BATCH, 12, 'w-');
    const warmupBodies: string[] = [];
    for (let i = 0; i < warmup.length; i += BATCH) warmupBodies.push(wireBody(warmup.slice(i, i + BATCH)));

    // The raw COPY runs before and after the HTTP phase: on a shared machine the load of others changes within a
    // run, and the mean of both sides is fairer to the HTTP phase between them than either alone.
    const copyMs: number[] = [];
    const rawCopy = async (table: string) => {
      await createEventsShapedTable(pool, table);
      const started = performance.now();
      await copyEventsIntoTable(pool, table, events);
      copyMs.push(performance.now() - started);
    };
    await rawCopy('bench_copy_before');

    const port = await freePort();
    server = await startServer(port);
    const url = `http://127.0.0.1:${port}/v1/events`;
    await sendAll(url, warmupBodies);
    const http = await sendAll(url, bodies);
    server.kill('SIGTERM');
    await once(server, 'exit');
    server = null;
    if (http.failed > 0 || http.accepted !== EVENTS) {
      throw new Error(
        `HTTP phase: ${http.failed} failed requests, ${http.accepted} of ${EVENTS} acknowledged`,
      );
    }
    await rawCopy('bench_copy_after');

    const httpRate = rate(EVENTS, http.ms);
    const copyRates = copyMs.map((ms) => rate(EVENTS, ms));
    const copyRate = Math.round((copyRates[0]! + copyRates[1]!) / 2);
    console.log(
      `HTTP ingest   ${fmt(httpRate).padStart(9)} events/s  (${(http.ms / 1000).toFixed(1)} s; request p50 ${http.p50.toFixed(0)} ms, p99 ${http.p99.toFixed(0)} ms; write method ${process.env.INGEST_WRITE_METHOD ?? 'default'})`,
    );
    console.log(
      `raw COPY      ${fmt(copyRate).padStart(9)} events/s  (mean of ${copyRates.map(fmt).join(' before and ')} after)`,
    );
    console.log(`ratio HTTP / COPY = ${(httpRate / copyRate).toFixed(2)} (target >= 0.30)`);

    console.log(
      `\nwrite method of a group commit (${fmt(WRITE_METHOD_EVENTS)} new events in groups of ${fmt(WRITE_GROUP_EVENTS)}, 2 writers):`,
    );
    const results: Record<EventWriteMethod, number> = { insert: 0, copy: 0 };
    for (const method of ['insert', 'copy', 'insert', 'copy'] as const) {
      const rows = benchEvents(
        WRITE_METHOD_EVENTS,
        method === 'insert' ? 21 : 22,
        `${method}-${randomBytes(2).toString('hex')}-`,
      );
      const groups: StoredEvent[][] = [];
      for (let i = 0; i < rows.length; i += WRITE_GROUP_EVENTS)
        groups.push(rows.slice(i, i + WRITE_GROUP_EVENTS));
      let next = 0;
      const started = performance.now();
      await Promise.all(
        [0, 1].map(async () => {
          while (next < groups.length) {
            const group = groups[next++]!;
            await insertEventGroups(pool, [group.slice(0, BATCH), group.slice(BATCH)], method);
          }
        }),
      );
      results[method] = Math.max(results[method], rate(rows.length, performance.now() - started));
    }
    console.log(`  INSERT statement      ${fmt(results.insert).padStart(6)} events/s (best of 2)`);
    console.log(`  known-id check + COPY ${fmt(results.copy).padStart(6)} events/s (best of 2)`);
    console.log(`  faster: ${results.insert >= results.copy ? 'insert' : 'copy'}`);
  } finally {
    if (server) server.kill('SIGKILL');
    await pool.end();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await dropDatabase(serverUrl.toString(), dbName);
  }
}

await main();
