/**
 * bench:build — `elevens build --algorithm cosine` on the generator's 10,000,000 events (1,000,000 users,
 * 200,000 items, Zipf 1.1) read from Postgres, timed with its peak RSS, against a reference computation of the same
 * cosine top-50 in python3 + numpy/scipy (tests/bench/build_reference.py: CSV parsing, sparse XᵀX, top-K) on the
 * same events exported as CSV, in the same run. Then MovieLens 100K (../shared/data, when present) imported into a
 * scratch database and built.
 *
 * Both sides compute exactly the same thing: type weights, 30-day half-life decay, duplicate (user, item) events
 * summed, caps off (the reference has no seeded sampling), at least 2 co-occurring users, top 50 by cosine; the
 * bench checks that their neighbour lists agree.
 *
 * The imported database (elevens_bench_build) is kept between runs: a marker table records which data it holds,
 * so a rerun with the same parameters skips the import. BENCH_BUILD_EVENTS / _USERS / _ITEMS scale it down.
 * Redis keys live under a bench prefix, deleted at the end. 127.0.0.1 only.
 */

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '@elevens/config';
import { createPool, EventImport, getModelRun, type Pool } from '@elevens/db';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import { GENERATED_EVENTS_CSV_HEADER, generatedEventToCsv, generateEvents } from '@elevens/generator';
import {
  createKeys,
  createRedis,
  deleteKeysWithPrefix,
  PACKED_ENTRY_BYTES,
  publishModel,
  type Redis,
} from '@elevens/redis-stores';
import { RUNTIME } from './runtime';

const EVENTS = Number(process.env.BENCH_BUILD_EVENTS ?? 10_000_000);
const USERS = Number(process.env.BENCH_BUILD_USERS ?? 1_000_000);
const ITEMS = Number(process.env.BENCH_BUILD_ITEMS ?? 200_000);
const SEED = 11;
/** Fixed, so the generated data (and the marker) do not change from one day to the next. */
const START_MS = Date.UTC(2026, 9, 1);
const DAYS = 14;
const HALF_LIFE_DAYS = 30;
const K = 50;
const MIN_SUPPORT = 2;
const NO_CAP = 100_000_000;
const MEMORY_ITEMS = Number(process.env.BENCH_BUILD_MEMORY_ITEMS ?? 1_000_000);
const DATABASE_NAME = 'elevens_bench_build';
const MOVIELENS_DATABASE = 'elevens_bench_build_ml';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MOVIELENS = fileURLToPath(new URL('../../../shared/data/movielens-100k/u.data', import.meta.url));
const WORK_DIR = '/tmp/elevens-bench-build';
const REDIS_URL = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
const spec = `generator users=${USERS} items=${ITEMS} events=${EVENTS} seed=${SEED} start=${START_MS} days=${DAYS}`;

const databaseUrl = (name: string) => {
  const url = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
};
const serverUrl = () => databaseUrl('postgres');
const log = (line: string) => console.error(`[bench:build] ${line}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/** The run's own duration from the build's report line ("… in 12.34s (read …"). */
const reportedSeconds = (stdout: string) => Number(/ in ([\d.]+)s \(/.exec(stdout)?.[1] ?? Number.NaN);
/** The quality gate's phase from the same line ("… gate 3.21s, …"). */
const gateSeconds = (stdout: string) => Number(/[(,] gate ([\d.]+)s/.exec(stdout)?.[1] ?? Number.NaN);

/**
 * The gate's cost against the rest of the build (target ≤ 0.5), and what it measured, from the run's record in
 * model_runs: its target, users sampled and NDCG@10 with its standard error.
 */
async function gateSummary(database: string, stdout: string): Promise<string> {
  const gate = gateSeconds(stdout);
  const rest = reportedSeconds(stdout) - gate;
  const version = /(?:published|rejected) model (\S+)/.exec(stdout)?.[1];
  const pool = createPool(databaseUrl(database), { max: 1 });
  const metrics = version ? (await getModelRun(pool, version))?.metrics : null;
  await pool.end();
  const figure = (key: string, digits = 4) =>
    typeof metrics?.[key] === 'number' ? (metrics[key] as number).toFixed(digits) : '–';
  return (
    `quality gate ${gate.toFixed(2)} s against ${rest.toFixed(2)} s for the rest of the build: share ${(gate / rest).toFixed(2)} (target ≤ 0.5); ` +
    `target ${String(metrics?.target ?? '–')}, ${figure('users', 0)} users, NDCG@10 ${figure('ndcg10')} ± ${figure('ndcg10StdErr')} ` +
    `(popularity ${figure('popularityNdcg10')}), return to it: ${figure('returnUsers', 0)} users, NDCG@10 ${figure('returnNdcg10')} ± ${figure('returnNdcg10StdErr')} (recently seen ${figure('recentlySeenNdcg10')})`
  );
}
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

async function markerOf(pool: Pool): Promise<string | null> {
  await pool.query('CREATE TABLE IF NOT EXISTS bench_build_marker (spec text NOT NULL)');
  const { rows } = await pool.query<{ spec: string }>('SELECT spec FROM bench_build_marker');
  return rows[0]?.spec ?? null;
}

async function setMarker(pool: Pool, value: string) {
  await pool.query('DELETE FROM bench_build_marker');
  await pool.query('INSERT INTO bench_build_marker (spec) VALUES ($1)', [value]);
}

/** The generated events as the generator's CSV (event_id,user_id,item_id,type,timestamp ms,session_id). */
async function writeGeneratedCsv(path: string) {
  mkdirSync(WORK_DIR, { recursive: true });
  const partial = `${path}.partial`;
  const out = createWriteStream(partial);
  const started = performance.now();
  let lines: string[] = [GENERATED_EVENTS_CSV_HEADER];
  const options = { users: USERS, items: ITEMS, events: EVENTS, seed: SEED, startMs: START_MS, days: DAYS };
  for (const e of generateEvents(options)) {
    lines.push(generatedEventToCsv(e));
    if (lines.length >= 5_000) {
      if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
      lines = [];
    }
  }
  out.end(lines.length > 0 ? `${lines.join('\n')}\n` : '');
  await once(out, 'finish');
  renameSync(partial, path);
  log(`generated ${EVENTS} events into ${path} in ${seconds(performance.now() - started)}`);
}

/** Runs SQL (psql meta-commands included) against a database with psql. */
function psql(url: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['-v', 'ON_ERROR_STOP=1', '-q', url], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`))));
    child.stdin.end(script);
  });
}

/**
 * COPYs the generator's CSV into a staging table and moves it into `events` in one statement: the bulk path of a
 * one-off history load (event ids are not claimed: the generated data is duplicate-free).
 */
async function importGenerated(url: string, pool: Pool, csv: string) {
  await pool.query('DELETE FROM bench_build_marker');
  if (!existsSync(csv)) await writeGeneratedCsv(csv);
  const started = performance.now();
  await psql(
    url,
    `TRUNCATE events, event_ids, items, model_runs;
SELECT elevens_ensure_event_partition(m) FROM generate_series(
  date_trunc('month', to_timestamp(${START_MS / 1000})), to_timestamp(${(START_MS + DAYS * 86_400_000) / 1000}),
  interval '1 month') AS m;
CREATE UNLOGGED TABLE IF NOT EXISTS bench_build_staging
  (event_id text, user_id text, item_id text, type text, ts_ms bigint, session_id text);
TRUNCATE bench_build_staging;
\\copy bench_build_staging FROM '${csv}' WITH (FORMAT csv, HEADER true)
INSERT INTO events (event_id, user_id, item_id, type, ts, session_id)
  SELECT event_id, user_id, item_id, type, to_timestamp(ts_ms / 1000.0), session_id FROM bench_build_staging;
DROP TABLE bench_build_staging;
VACUUM ANALYZE events;
`,
  );
  log(`imported ${EVENTS} events in ${seconds(performance.now() - started)}`);
  await setMarker(pool, spec);
}

interface Measured {
  wallMs: number;
  /** user + system CPU time: less sensitive than wall time to the other work on a shared machine */
  cpuMs: number;
  peakRssBytes: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time for its peak RSS (max resident set, KiB). */
function measure(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', 'peak-rss-kib %M cpu-s %U %S', command, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      const rss = /peak-rss-kib (\d+) cpu-s ([\d.]+) ([\d.]+)/.exec(stderr);
      if (code !== 0 || !rss) {
        reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.slice(-3000)}`));
        return;
      }
      resolve({
        wallMs,
        cpuMs: (Number(rss[2]) + Number(rss[3])) * 1000,
        peakRssBytes: Number(rss[1]) * 1024,
        stdout,
      });
    });
  });
}

const buildArgs = (extra: string[]) => [
  'node_modules/.bin/elevens',
  'build',
  '--algorithm',
  'cosine',
  '--k',
  String(K),
  '--min-support',
  String(MIN_SUPPORT),
  '--half-life',
  String(HALF_LIFE_DAYS),
  ...extra,
];

const buildEnv = (database: string, prefix: string): NodeJS.ProcessEnv => ({
  ...process.env,
  DATABASE_URL: databaseUrl(database),
  REDIS_URL,
  REDIS_KEY_PREFIX: prefix,
  LOG_LEVEL: 'warn',
});

/** Neighbour lists of the reference (item id → ids) against the published model's, as mean overlap@K. */
async function agreement(prefix: string, referencePath: string): Promise<{ items: number; overlap: number }> {
  const redis = createRedis(REDIS_URL);
  const keys = createKeys(prefix);
  const { loadModelSnapshot, currentModelVersion, decodeScored } = await import('@elevens/redis-stores');
  const version = await currentModelVersion(redis, keys);
  if (!version) throw new Error('no model was published');
  const snapshot = await loadModelSnapshot(redis, keys, version);
  if (!snapshot) throw new Error('published model is incomplete');
  const reference = readFileSync(referencePath, 'utf8').trim().split('\n');
  let total = 0;
  let compared = 0;
  const sampleEvery = Math.max(1, Math.floor(reference.length / 2000));
  for (let r = 0; r < reference.length; r += sampleEvery) {
    const [item, list] = reference[r]!.split('\t') as [string, string];
    const expected = new Set(list.split(','));
    const packed = await redis.hgetBuffer(keys.modelNeighbors(version), item);
    const ours = packed ? Array.from(decodeScored(packed).idx, (i) => snapshot.itemIds[i]!) : [];
    const common = ours.filter((id) => expected.has(id)).length;
    total += common / Math.max(expected.size, ours.length, 1);
    compared++;
  }
  redis.disconnect();
  return { items: compared, overlap: compared > 0 ? total / compared : 0 };
}

async function importMovieLens(url: string) {
  const pool = createPool(url, { max: 2 });
  try {
    if ((await markerOf(pool)) === 'movielens-100k') return;
    await pool.query('TRUNCATE events, event_ids, items, model_runs');
    const importer = new EventImport(pool, { chunkRows: 100_000 });
    for (const line of readFileSync(MOVIELENS, 'utf8').split('\n')) {
      const [user, item, rating, ts] = line.split('\t');
      if (!ts) continue;
      await importer.write({
        eventId: `ml-${user}-${item}`,
        userId: `u${user}`,
        itemId: `m${item}`,
        type: Number(rating) >= 4 ? 'purchase' : 'view',
        timestampMs: Number(ts) * 1000,
        sessionId: null,
        categoryId: null,
      });
    }
    await importer.finish();
    await setMarker(pool, 'movielens-100k');
  } finally {
    await pool.end();
  }
}

const usedMemory = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
const memoryUsage = async (redis: Redis, key: string) =>
  Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);

/**
 * Publishes a synthetic model of MEMORY_ITEMS items × K neighbours under a scratch prefix and measures what Redis
 * holds for it (MEMORY USAGE of each key, and INFO used_memory before and after), then deletes it. For comparison,
 * a sample of the same lists as sorted sets with the item ids as members, scaled to the same item count.
 */
async function measureModelMemory(redis: Redis) {
  const items = MEMORY_ITEMS;
  const prefix = `bench:build:memory:${process.pid}:`;
  const keys = createKeys(prefix);
  const itemIds = Array.from({ length: items }, (_, i) => `i${String(i).padStart(7, '0')}`);
  const ptr = new Uint32Array(items + 1);
  const idx = new Uint32Array(items * K);
  const score = new Float64Array(items * K);
  let state = 12345;
  for (let i = 0; i < items; i++) {
    ptr[i + 1] = (i + 1) * K;
    for (let n = 0; n < K; n++) {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      idx[i * K + n] = state % items;
      score[i * K + n] = 1 - n / K;
    }
  }
  const none = { ptr: new Uint32Array(items + 1), idx: new Uint32Array(0), score: new Float64Array(0) };
  try {
    const before = await usedMemory(redis);
    const started = performance.now();
    await publishModel(redis, keys, {
      version: 'memory',
      algorithm: 'cosine',
      builtAtMs: Date.now(),
      itemIds,
      itemCategories: itemIds.map(() => ''),
      neighbors: { ptr, idx, score },
      boughtTogether: none,
      popular: { idx: [], score: [] },
      trending: { idx: [], score: [] },
      popularByCategory: new Map(),
    });
    const publishMs = performance.now() - started;
    const after = await usedMemory(redis);
    const neighbors = await memoryUsage(redis, keys.modelNeighbors('memory'));
    let versionTotal = 0;
    for (const key of keys.modelVersionKeys('memory')) versionTotal += await memoryUsage(redis, key);
    const sample = 20_000;
    const pipeline = redis.pipeline();
    for (let i = 0; i < sample; i++) {
      const args: (string | number)[] = [];
      for (let n = 0; n < K; n++) args.push(score[i * K + n]!, itemIds[idx[i * K + n]!]!);
      pipeline.zadd(`${prefix}zset:${i}`, ...args);
    }
    await pipeline.exec();
    let zsetSample = 0;
    for (let i = 0; i < sample; i++) zsetSample += await memoryUsage(redis, `${prefix}zset:${i}`);
    return {
      items,
      publishMs,
      neighbors,
      versionTotal,
      usedMemoryDelta: after - before,
      payload: items * K * PACKED_ENTRY_BYTES,
      zsetScaled: (zsetSample / sample) * items,
    };
  } finally {
    await deleteKeysWithPrefix(redis, prefix);
  }
}

async function main() {
  console.log(`runtime: ${RUNTIME}`);
  const url = databaseUrl(DATABASE_NAME);
  await ensureDatabase(url);
  await migrate(url, () => {});
  const csv = `${WORK_DIR}/events-${USERS}-${ITEMS}-${EVENTS}-${SEED}-${START_MS}-${DAYS}.csv`;
  const pool = createPool(url, { max: 2 });
  if ((await markerOf(pool)) === spec) log(`reusing ${DATABASE_NAME} (${spec})`);
  else {
    log(`importing ${spec} into ${DATABASE_NAME}`);
    await importGenerated(url, pool, csv);
  }
  await pool.end();
  if (!existsSync(csv)) await writeGeneratedCsv(csv);

  const prefix = `bench:build:${process.pid}:`;
  const redis = createRedis(REDIS_URL);
  try {
    log('elevens build --algorithm cosine …');
    const build = await measure(
      'node',
      buildArgs(['--max-items-per-user', String(NO_CAP), '--max-users-per-item', String(NO_CAP)]),
      buildEnv(DATABASE_NAME, prefix),
    );
    log(build.stdout.trim());
    log('python3 tests/bench/build_reference.py …');
    const referenceOut = `${WORK_DIR}/reference-neighbors.tsv`;
    const reference = await measure(
      'python3',
      [
        'tests/bench/build_reference.py',
        csv,
        referenceOut,
        String(K),
        String(MIN_SUPPORT),
        String(HALF_LIFE_DAYS),
      ],
      process.env,
    );
    log(reference.stdout.trim());
    const agree = await agreement(prefix, referenceOut);

    let movieLens: Measured | null = null;
    if (existsSync(MOVIELENS)) {
      const mlUrl = databaseUrl(MOVIELENS_DATABASE);
      await ensureDatabase(mlUrl);
      await migrate(mlUrl, () => {});
      await importMovieLens(mlUrl);
      movieLens = await measure(
        'node',
        ['node_modules/.bin/elevens', 'build', '--algorithm', 'cosine', '--window', '3650d'],
        buildEnv(MOVIELENS_DATABASE, `${prefix}ml:`),
      );
      log(movieLens.stdout.trim());
    } else log(`MovieLens 100K not found at ${MOVIELENS}: skipped`);

    console.log(`bench:build — ${spec}, cosine top-${K}, min support ${MIN_SUPPORT}`);
    console.log(
      `  elevens build (Postgres COPY → Redis publish): ${seconds(build.wallMs)} wall (the run itself ${reportedSeconds(build.stdout).toFixed(1)} s), CPU ${seconds(build.cpuMs)}, peak RSS ${mib(build.peakRssBytes)}`,
    );
    console.log(
      `  reference python3 numpy/scipy (CSV → top-K):  ${seconds(reference.wallMs)}, CPU ${seconds(reference.cpuMs)}, peak RSS ${mib(reference.peakRssBytes)}`,
    );
    console.log(
      `  ratio build / reference: ${(build.wallMs / reference.wallMs).toFixed(2)} wall, ${(build.cpuMs / reference.cpuMs).toFixed(2)} CPU (target ≤ 1.5)`,
    );
    console.log(`  ${await gateSummary(DATABASE_NAME, build.stdout)}`);
    console.log(
      `  neighbour agreement on ${agree.items} sampled items: ${(agree.overlap * 100).toFixed(1)} %`,
    );
    const memory = await measureModelMemory(redis);
    console.log(
      `  Redis memory, ${memory.items.toLocaleString('en')} items × ${K} neighbours (packed, published in ${seconds(memory.publishMs)}): ` +
        `neighbours hash ${mib(memory.neighbors)} (MEMORY USAGE), all version keys ${mib(memory.versionTotal)}, ` +
        `INFO used_memory +${mib(memory.usedMemoryDelta)}; payload ${mib(memory.payload)}; ` +
        `as sorted sets (20,000 measured, scaled) ${mib(memory.zsetScaled)}`,
    );
    if (movieLens) {
      console.log(
        `  MovieLens 100K build: the run ${reportedSeconds(movieLens.stdout).toFixed(2)} s, ${seconds(movieLens.wallMs)} with process start (CPU ${seconds(movieLens.cpuMs)}), peak RSS ${mib(movieLens.peakRssBytes)}`,
      );
      console.log(`  MovieLens 100K ${await gateSummary(MOVIELENS_DATABASE, movieLens.stdout)}`);
    }
  } finally {
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
  }
}

if (process.argv.includes('--memory-only')) {
  const redis = createRedis(REDIS_URL);
  console.log(await measureModelMemory(redis));
  redis.disconnect();
} else if (process.env.BENCH_BUILD_DROP === '1') {
  await dropDatabase(serverUrl(), DATABASE_NAME);
  await dropDatabase(serverUrl(), MOVIELENS_DATABASE);
} else await main();
