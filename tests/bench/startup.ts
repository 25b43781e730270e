/**
 * bench:startup — time from spawning `elevens serve api` to its first 200 from GET /healthz, for each way the
 * `elevens` bin runs: the TypeScript sources through tsx with an empty compile cache (every start of a new
 * container), through tsx with a warm cache (a developer's second start), and the compiled dist/ of
 * `npm run build` (skipped, with a note, when packages/cli/dist is missing). Runs alternate between the ways so
 * that load from other work spreads over all of them. Uses its own database (created, migrated and dropped) and
 * Redis key prefix (deleted). 127.0.0.1 only. BENCH_RUNS (default 7) sets the starts per way.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '@elevens/config';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import { createRedis, deleteKeysWithPrefix } from '@elevens/redis-stores';
import { freePort } from '@elevens/testkit/redis-cluster';
import { midpointMedian } from './latency';
import { RUNTIME } from './runtime';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const CLI = fileURLToPath(new URL('../../packages/cli/bin/elevens.js', import.meta.url));
const COMPILED_CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const SOURCE_CONDITION = '--conditions=@elevens/source';
const READY_TIMEOUT_MS = 60_000;

const serverUrl = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
serverUrl.pathname = '/postgres';
const dbName = `elevens_bench_startup_${randomBytes(3).toString('hex')}`;
const databaseUrl = new URL(serverUrl);
databaseUrl.pathname = `/${dbName}`;
const redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
const prefix = `bench:startup:${randomBytes(3).toString('hex')}:`;

/** NODE_OPTIONS as this process got them, less the source condition (npm run bench:* sets it for tsx). */
const inheritedNodeOptions = (process.env.NODE_OPTIONS ?? '')
  .split(' ')
  .filter((option) => option !== '' && option !== SOURCE_CONDITION);

interface Way {
  name: string;
  env: Record<string, string>;
}

const WAYS: Way[] = [
  {
    name: 'tsx, empty compile cache',
    env: { NODE_OPTIONS: [...inheritedNodeOptions, SOURCE_CONDITION].join(' '), TSX_DISABLE_CACHE: '1' },
  },
  {
    name: 'tsx, warm compile cache',
    env: { NODE_OPTIONS: [...inheritedNodeOptions, SOURCE_CONDITION].join(' ') },
  },
  { name: 'compiled dist/', env: { NODE_OPTIONS: inheritedNodeOptions.join(' ') } },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).status === 200;
  } catch {
    return false;
  }
}

const residentMiB = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
};

/** One start: milliseconds from spawn to the first healthy answer, and the process's resident memory then. */
async function startOnce(way: Way): Promise<{ ms: number; rssMiB: number }> {
  const port = await freePort();
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', 'api'], {
    env: {
      ...process.env,
      ...way.env,
      DATABASE_URL: databaseUrl.href,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  try {
    while (!(await healthy(`http://127.0.0.1:${port}/healthz`))) {
      if (child.exitCode !== null) throw new Error(`${way.name}: the server exited with ${child.exitCode}`);
      if (performance.now() - started > READY_TIMEOUT_MS) throw new Error(`${way.name}: not healthy in time`);
      await sleep(5);
    }
    return { ms: performance.now() - started, rssMiB: residentMiB(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

async function main() {
  console.log(`runtime: ${RUNTIME}`);
  const ways = existsSync(COMPILED_CLI) ? WAYS : WAYS.filter((way) => way.name !== 'compiled dist/');
  if (ways.length < WAYS.length)
    console.log('packages/cli/dist is missing: run `npm run build` to time it too');
  await ensureDatabase(databaseUrl.href);
  await migrate(databaseUrl.href);
  const redis = createRedis(redisUrl);
  const results = new Map(ways.map((way) => [way, [] as { ms: number; rssMiB: number }[]]));
  try {
    // One unmeasured start per way: the warm way's cache is filled, and the files are in the page cache for all.
    for (const way of ways) await startOnce(way);
    for (let run = 0; run < RUNS; run++) for (const way of ways) results.get(way)!.push(await startOnce(way));
  } finally {
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await dropDatabase(serverUrl.href, dbName);
  }
  console.log(`\n${RUNS} starts per way, Node ${process.version}\n`);
  console.log('| way | median to /healthz | min – max | resident memory (median) |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [way, starts] of results) {
    const ms = starts.map((s) => s.ms);
    console.log(
      `| ${way.name} | ${Math.round(midpointMedian(ms))} ms | ${Math.round(Math.min(...ms))} – ${Math.round(Math.max(...ms))} ms | ${Math.round(midpointMedian(starts.map((s) => s.rssMiB)))} MiB |`,
    );
  }
}

await main();
