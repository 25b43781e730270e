/**
 * bench:reports — what attribution costs and what the reports answer in, each against a baseline of the same run:
 *   1. ingest throughput with the roll-up worker on against off: the same events (impressions and clicks
 *      carrying answer ids, purchases found by last touch) over POST /v1/events from concurrent clients, to an
 *      ingest server in a child process and a fresh database per run, off/on alternated; and how far behind the
 *      worker was when the load stopped;
 *   2. a 30-day report over BENCH_REPORT_EVENTS (default 10,000,000) events written straight into a bench
 *      database: the roll-ups rebuilt from them (timed), then GET /v1/reports/recommendations and /push through
 *      the api (median of 20 after a cold first), against one scan of the raw events counting by type.
 * Uses databases of its own (created, migrated, dropped) and its own Redis key prefix (deleted); 127.0.0.1 only.
 * BENCH_INGEST_EVENTS (default 400,000) events per ingest run; BENCH_CLIENTS (default 16) concurrent clients;
 * BENCH_ROUNDS (default 7) pairs of runs, off then on and on then off alternately; the ratio is the
 * median of the pairs' ratios, so a burst of load from elsewhere spoils one pair, not the figure.
 */

import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '@elevens/config';
import {
  createPool,
  DEFAULT_ATTRIBUTION_WINDOW_MS,
  type Pool,
  rebuildRollups,
  rollupWatermark,
} from '@elevens/db';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import { encodePushAnswerId, encodeRecommendationAnswerId } from '@elevens/domain';
import { generateEvents } from '@elevens/generator';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createRedis, deleteKeysWithPrefix } from '@elevens/redis-stores';
import { z } from 'zod';
import { attributionEnv } from '../../services/ingest/src/plugins/attribution';
import { openConnections } from './http-loops';
import { median } from './latency';
import { RUNTIME } from './runtime';
import { announcePort, type BenchServer, startService } from './servers';

const INGEST_EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 400_000);
const REPORT_EVENTS = Number(process.env.BENCH_REPORT_EVENTS ?? 10_000_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const BATCH = 500;
const HOUR_MS = 3_600_000;
const DAYS = 30;
const ANSWERS_PER_HOUR = 280;
const REPORT_RUNS = 20;

const serverUrl = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
serverUrl.pathname = '/postgres';
const redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
const runId = randomBytes(3).toString('hex');
const prefix = `bench:reports:${runId}:`;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function databaseUrlOf(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function freshDatabase(label: string): Promise<{ name: string; url: string }> {
  const name = `elevens_bench_reports_${label}_${runId}`;
  const url = databaseUrlOf(name);
  await ensureDatabase(url);
  await migrate(url);
  return { name, url };
}

/** Child mode: the ingest service with the ATTRIBUTION_* variables of the environment. */
async function serveIngest(): Promise<void> {
  const config = { ...loadIngestConfig(process.env), ...z.object(attributionEnv).parse(process.env) };
  const app = await buildIngestApp({ config });
  await app.listen({ host: '127.0.0.1', port: 0 });
  announcePort(app, () => app.close());
}

const recommendationAnswer = (index: number, answeredAtMs: number) =>
  encodeRecommendationAnswerId({
    modelVersion: index % 2 === 0 ? 'v-a' : 'v-b',
    placement: ['home', 'product', 'cart'][index % 3]!,
    experiment: 'halflife',
    arm: index % 2 === 0 ? 'control' : 'b',
    answeredAtMs,
  });

/**
 * The generator's shop traffic, re-timed into the last day, as a storefront with recommendations sends it:
 * most views become impressions of an answer, some of them clicks; purchases carry a price and no answer id.
 */
function ingestBodies(seed: number): string[] {
  const dayAgo = Date.now() - 86_400_000;
  const answers = Array.from({ length: 5_000 }, (_, i) => recommendationAnswer(i, dayAgo));
  const events = Array.from(
    generateEvents({ users: 20_000, items: 50_000, events: INGEST_EVENTS, seed, days: 1, startMs: dayAgo }),
    (e, i) => {
      const base = {
        eventId: `${seed}-${e.eventId}`,
        userId: e.userId,
        itemId: e.itemId,
        timestamp: e.timestamp,
      };
      if (e.type === 'view' && i % 10 < 8)
        return {
          ...base,
          type: i % 10 === 0 ? 'click' : 'impression',
          recommendationId: answers[i % answers.length],
        };
      if (e.type === 'purchase') return { ...base, type: e.type, price: 19.99, quantity: 1 + (i % 3) };
      return { ...base, type: e.type };
    },
  );
  const bodies: string[] = [];
  for (let i = 0; i < events.length; i += BATCH)
    bodies.push(JSON.stringify({ events: events.slice(i, i + BATCH) }));
  return bodies;
}

async function sendAll(port: number, bodies: readonly string[]) {
  const connections = await openConnections(port, CLIENTS);
  let next = 0;
  let acknowledged = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    connections.map(async (connection) => {
      while (next < bodies.length) {
        const answer = await connection.request('POST', '/v1/events', bodies[next++]!);
        const reply = JSON.parse(answer.body.toString()) as { accepted?: number; duplicates?: number };
        if (answer.status === 200) acknowledged += (reply.accepted ?? 0) + (reply.duplicates ?? 0);
        else failed++;
      }
    }),
  );
  const ms = performance.now() - started;
  for (const connection of connections) connection.close();
  return { ms, acknowledged, failed };
}

interface IngestRun {
  attribution: boolean;
  eventsPerSecond: number;
  failed: number;
  /** seconds of receive time not yet rolled up when the load stopped (on only) */
  behindS: number | null;
}

async function ingestRun(attribution: boolean, round: number, bodies: readonly string[]): Promise<IngestRun> {
  const db = await freshDatabase(`ingest_${round}_${attribution ? 'on' : 'off'}`);
  const pool = createPool(db.url, { max: 2 });
  let server: BenchServer | null = null;
  try {
    Object.assign(process.env, {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      AUTH_REQUIRED: 'false',
      PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
      LOG_LEVEL: 'warn',
      ATTRIBUTION_ENABLED: String(attribution),
    });
    server = await startService(import.meta.url, 'serve-ingest', []);
    const sent = await sendAll(server.port, bodies);
    const watermark = await rollupWatermark(pool);
    const behindS = attribution && watermark ? (Date.now() - watermark.getTime()) / 1000 : null;
    return {
      attribution,
      eventsPerSecond: (sent.acknowledged / sent.ms) * 1000,
      failed: sent.failed,
      behindS,
    };
  } finally {
    await server?.stop();
    await pool.end();
    await dropDatabase(serverUrl.toString(), db.name);
    // Every run starts from empty live state, as from an empty database: full histories cost a trim per write.
    const redis = createRedis(redisUrl);
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
  }
}

/**
 * `REPORT_EVENTS` events over the last 30 days written by SQL: each hour holds its own answers (an answer's
 * events follow it within the hour), 70 % impressions, 7 % clicks, 3 % carts, 1 % purchases, the rest views;
 * a twentieth of the answers are push decisions of five campaigns.
 */
async function fillReportDatabase(pool: Pool, startMs: number): Promise<void> {
  const hours = DAYS * 24;
  const answers: string[] = [];
  for (let h = 0; h < hours; h++)
    for (let a = 0; a < ANSWERS_PER_HOUR; a++) {
      const index = h * ANSWERS_PER_HOUR + a;
      const atMs = startMs + h * HOUR_MS;
      answers.push(
        a % 20 === 19
          ? encodePushAnswerId({
              campaign: `campaign-${Math.floor(a / 20) % 5}`,
              modelVersion: null,
              answeredAtMs: atMs,
            })
          : recommendationAnswer(index, atMs),
      );
    }
  for (const ms of [startMs, Date.now()])
    await pool.query('SELECT elevens_ensure_event_partition($1)', [new Date(ms)]);
  // A table rather than an array parameter: subscripting a text array walks it from the start.
  await pool.query(
    `CREATE TABLE bench_answers AS
     SELECT (n - 1)::int AS idx, id FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n)`,
    [answers],
  );
  await pool.query('ALTER TABLE bench_answers ADD PRIMARY KEY (idx)');
  await pool.query('SELECT setseed(0.19)');
  const chunk = 1_000_000;
  for (let offset = 0; offset < REPORT_EVENTS; offset += chunk) {
    await pool.query(
      `INSERT INTO events (event_id, user_id, item_id, type, ts, recommendation_id, quantity, price)
       SELECT 'b' || g, 'u' || floor(random() * 200000)::int, 'i' || floor(random() * 50000)::int,
              CASE WHEN r < 0.70 THEN 'impression' WHEN r < 0.77 THEN 'click' WHEN r < 0.80 THEN 'cart'
                   WHEN r < 0.81 THEN 'purchase' ELSE 'view' END,
              to_timestamp($3::double precision / 1000) + (h * 3600 + random() * 3599) * interval '1 second',
              CASE WHEN r < 0.77 THEN a.id END,
              CASE WHEN r >= 0.80 AND r < 0.81 THEN 1 + floor(random() * 3)::int END,
              CASE WHEN r >= 0.80 AND r < 0.81 THEN round((5 + random() * 95)::numeric, 2) END
       FROM (SELECT g, r, h, h * $4 + floor(random() * $4)::int AS answer
             FROM (SELECT g, random() AS r, floor(random() * $5)::int AS h
                   FROM generate_series($1::bigint, $2::bigint) g) raw) s
       JOIN bench_answers a ON a.idx = s.answer`,
      [offset + 1, Math.min(offset + chunk, REPORT_EVENTS), startMs, ANSWERS_PER_HOUR, hours],
    );
    process.stdout.write(`  written ${fmt(Math.min(offset + chunk, REPORT_EVENTS))} events\r`);
  }
  process.stdout.write('\n');
  await pool.query('ANALYZE events');
}

async function reportPhase(): Promise<void> {
  const db = await freshDatabase('report');
  const pool = createPool(db.url, { max: 4 });
  const redis = createRedis(redisUrl);
  try {
    const toMs = Math.ceil(Date.now() / HOUR_MS) * HOUR_MS;
    const fromMs = toMs - DAYS * 24 * HOUR_MS;
    console.log(`report: writing ${fmt(REPORT_EVENTS)} events over ${DAYS} days (load ${load()})`);
    let started = performance.now();
    await fillReportDatabase(pool, fromMs);
    console.log(`  ${((performance.now() - started) / 1000).toFixed(1)} s`);

    // The worker counts events received after its watermark; the bench wrote them all at once, so the
    // rebuild takes them over: the watermark moves past them, then the roll-ups are recomputed from them.
    await pool.query('UPDATE attribution_state SET watermark = now()');
    started = performance.now();
    const rebuilt = await rebuildRollups(pool, { fromMs, toMs, windowMs: DEFAULT_ATTRIBUTION_WINDOW_MS });
    const rebuildS = (performance.now() - started) / 1000;
    console.log(
      `report: roll-ups rebuilt from ${fmt(rebuilt.events)} events in ${rebuildS.toFixed(1)} s ` +
        `(${fmt(rebuilt.events / rebuildS)} events/s, ${fmt(rebuilt.rows)} roll-up rows) (load ${load()})`,
    );

    started = performance.now();
    const { rows: scan } = await pool.query(
      'SELECT type, count(*) FROM events WHERE ts >= $1 AND ts < $2 GROUP BY type',
      [new Date(fromMs), new Date(toMs)],
    );
    const scanMs = performance.now() - started;
    console.log(
      `baseline: one scan of the raw events counting by type: ${fmt(scanMs)} ms (${scan.length} types)`,
    );

    const api = await buildApiApp({
      config: loadApiConfig({
        DATABASE_URL: db.url,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: prefix,
        AUTH_REQUIRED: 'false',
        LOG_LEVEL: 'warn',
        PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
      }),
    });
    const window = `from=${new Date(fromMs).toISOString()}&to=${new Date(toMs).toISOString()}`;
    try {
      for (const path of [
        `/v1/reports/recommendations?${window}&experiment=halflife&groupBy=arm`,
        `/v1/reports/recommendations?${window}&groupBy=hour`,
        `/v1/reports/recommendations?${window}&groupBy=modelVersion`,
        `/v1/reports/push?${window}`,
      ]) {
        const times: number[] = [];
        let body = '';
        for (let i = 0; i <= REPORT_RUNS; i++) {
          const t = performance.now();
          const response = await api.inject({ method: 'GET', url: path });
          times.push(performance.now() - t);
          if (response.statusCode !== 200)
            throw new Error(`${path}: ${response.statusCode} ${response.body}`);
          body = response.body;
        }
        const [cold, ...warm] = times;
        const groups = (JSON.parse(body) as { groups: unknown[] }).groups.length;
        console.log(
          `report ${path.replace(window, '30 days')}: cold ${cold!.toFixed(1)} ms, median ${median(warm).toFixed(1)} ms, ` +
            `max ${Math.max(...warm).toFixed(1)} ms (${groups} groups; ${(scanMs / median(warm)).toFixed(0)}× faster than the scan)`,
        );
      }
    } finally {
      await api.close();
    }
  } finally {
    await pool.end();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await dropDatabase(serverUrl.toString(), db.name);
  }
}

async function main(): Promise<void> {
  console.log(`runtime: ${RUNTIME}`);
  console.log(`bench:reports (load ${load()})`);
  const bodies = ingestBodies(19);
  const ratios: number[] = [];
  const totals = { on: 0, off: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const pair: Record<'on' | 'off', number> = { on: 0, off: 0 };
    for (const attribution of round % 2 === 0 ? [false, true] : [true, false]) {
      const run = await ingestRun(attribution, round, bodies);
      pair[attribution ? 'on' : 'off'] = run.eventsPerSecond;
      totals[attribution ? 'on' : 'off'] += run.eventsPerSecond / ROUNDS;
      console.log(
        `ingest attribution ${attribution ? 'on ' : 'off'}: ${fmt(run.eventsPerSecond)} events/s` +
          `${run.failed ? `, ${run.failed} failed requests` : ''}` +
          `${run.behindS === null ? '' : `, roll-ups ${run.behindS.toFixed(1)} s behind when the load stopped`}` +
          ` (load ${load()})`,
      );
    }
    ratios.push(pair.on / pair.off);
  }
  console.log(
    `ingest: attribution on ${fmt(totals.on)} events/s against off ${fmt(totals.off)} events/s (means); ` +
      `on/off per pair ${ratios.map((r) => r.toFixed(3)).join(', ')}: median ${median(ratios).toFixed(3)}× ` +
      '(target ≥ 0.9×)',
  );
  if (REPORT_EVENTS > 0) await reportPhase();
  console.log(`done (load ${load()})`);
}

if (process.argv[2] === 'serve-ingest') await serveIngest();
else await main();
