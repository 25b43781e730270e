/**
 * profile:api — a CPU profile of the computed path under load: the API with the reply cache off
 * (RECOMMENDATION_CACHE_TTL=0) on the shop of shop.ts, in a process of its own with its production node flags and
 * `--cpu-prof`, driven by autocannon (64 connections, users with histories at random) for BENCH_PROFILE_SECONDS
 * (default 20) after every user once (warm-up). The API writes its profiles to .bench/profile-api/<time>/
 * (gitignored) when it exits, one per thread: its main thread's is the one read here (tsx's module loader runs
 * in a thread of its own); the run then prints the functions with the most self time among the samples taken during the
 * load (not start-up or warm-up), and the same time by where the code lives, each as a share and in µs per
 * request. Open the .cpuprofile in Chrome DevTools (Performance, load profile) or speedscope for call trees.
 * With BENCH_PERF=1, Linux `perf record` samples the API process during the load too (perf.ts), and the run
 * prints its hottest native symbols. 127.0.0.1 only; keys under a bench prefix, deleted at the end.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRedis, deleteKeysWithPrefix } from '@elevens/redis-stores';
import { monotonicUs, profileSummary } from './cpu-profile';
import { perfRecord, WITH_PERF } from './perf';
import { RUNTIME } from './runtime';
import type { BenchServer } from './servers';
import {
  API_THREADS_LABEL,
  dropShopDatabase,
  loadUsers,
  prepareShop,
  REDIS_URL,
  SHOP_DATABASE_URL,
  startShopApi,
} from './shop';

const PROFILE_SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 20);
const TOP_SYMBOLS = 25;
const TOP_FUNCTIONS = 25;
const PROFILE_DIR = fileURLToPath(new URL('../../.bench/profile-api/', import.meta.url));

async function main() {
  console.log(`runtime: ${RUNTIME}; ${API_THREADS_LABEL}`);
  const prefix = `bench:profile-api:${randomBytes(4).toString('hex')}:`;
  const profileDir = `${PROFILE_DIR}${new Date().toISOString().replace(/[:.]/g, '-')}/`;
  mkdirSync(profileDir, { recursive: true });
  const redis = createRedis(REDIS_URL);
  let api: BenchServer | undefined;
  try {
    const { users } = await prepareShop(prefix, SHOP_DATABASE_URL);
    api = await startShopApi(prefix, SHOP_DATABASE_URL, {
      cacheTtl: '0',
      extraNodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    });
    const path = (user: string) => `/v1/recommendations?userId=${user}&limit=10`;
    await loadUsers({ server: api, path, users, duration: 'every user once' });
    const stopPerf = WITH_PERF ? perfRecord({ pid: api.pid }, `${profileDir}perf.data`) : null;
    const fromUs = monotonicUs();
    const load = await loadUsers({ server: api, path, users, duration: PROFILE_SECONDS });
    const toUs = monotonicUs();
    const recording = stopPerf === null ? null : await stopPerf();
    const perfSymbols = recording?.topSymbols({ pid: api.pid }, TOP_SYMBOLS) ?? null;
    const apiPid = api.pid;
    await api.stop();
    api = undefined;

    console.log(
      [
        `load: ${PROFILE_SECONDS} s, ${Math.round(load.rps)} req/s under the profiler, p50 ${load.p50.toFixed(1)} ms, ` +
          `p99 ${load.p99.toFixed(1)} ms, server CPU ${load.cpuUs === null ? '–' : Math.round(load.cpuUs)} µs/req, ` +
          `${load.errors} errors`,
        profileSummary({
          dir: profileDir,
          pid: apiPid,
          windows: [[fromUs, toUs]],
          units: load.requests,
          unit: 'req',
          of: 'the load',
          topFunctions: TOP_FUNCTIONS,
        }),
        ...(perfSymbols === null
          ? []
          : [
              '',
              `perf record of the API process during the load (${profileDir}perf.data), hottest symbols by share of its samples:`,
              ...perfSymbols,
            ]),
      ].join('\n'),
    );
  } finally {
    await api?.stop();
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await dropShopDatabase(SHOP_DATABASE_URL);
  }
}

await main();
