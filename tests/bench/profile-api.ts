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
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureDatabase, migrate } from '@elevens/db';
import { createRedis, deleteKeysWithPrefix } from '@elevens/redis-stores';
import { perfRecord, WITH_PERF } from './perf';
import { RUNTIME } from './runtime';
import type { BenchServer } from './servers';
import {
  API_THREADS_LABEL,
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
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The parts of a .cpuprofile (V8's Profiler.Profile) read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  /** µs, on the monotonic clock process.hrtime reads */
  startTime: number;
  endTime: number;
  samples: number[];
  /** µs between samples; the first is from startTime */
  timeDeltas: number[];
}

/** Where a function's code lives: a workspace package, a dependency, Node itself, or V8's own entries. */
function areaOf(url: string, functionName: string): string {
  if (url === '')
    return functionName.startsWith('(') ? functionName : '(native: V8 built-ins, Node bindings)';
  if (url.startsWith('node:')) return 'node internals';
  const dependency = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dependency) return dependency[1]!;
  const workspace = /\/((?:packages|services)\/[^/]+)\//.exec(url);
  return workspace ? workspace[1]! : url;
}

/** The file (relative to the repository) and line; tsx compiles each source file onto one line, so no line. */
const location = (url: string, lineNumber: number) => {
  const file = url.replace('file://', '').replace(REPO_ROOT, '');
  return lineNumber > 0 ? `${file}:${lineNumber + 1}` : file;
};

/** Self time per function and per area over the samples between `fromUs` and `toUs`. */
function selfTimes(profile: CpuProfile, fromUs: number, toUs: number) {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, { us: number; name: string; where: string }>();
  const byArea = new Map<string, number>();
  let totalUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i]!;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (at < fromUs || at >= toUs) continue;
    const frame = frames.get(profile.samples[i]!)!;
    const where = location(frame.url, frame.lineNumber);
    const key = `${frame.functionName}\t${where}`;
    const entry = byFunction.get(key) ?? { us: 0, name: frame.functionName || '(anonymous)', where };
    entry.us += us;
    byFunction.set(key, entry);
    const area = areaOf(frame.url, frame.functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    totalUs += us;
  }
  return { byFunction: [...byFunction.values()].sort((a, b) => b.us - a.us), byArea, totalUs };
}

async function main() {
  console.log(`runtime: ${RUNTIME}; ${API_THREADS_LABEL}`);
  const prefix = `bench:profile-api:${randomBytes(4).toString('hex')}:`;
  const profileDir = `${PROFILE_DIR}${new Date().toISOString().replace(/[:.]/g, '-')}/`;
  mkdirSync(profileDir, { recursive: true });
  const redis = createRedis(REDIS_URL);
  let api: BenchServer | undefined;
  try {
    await ensureDatabase(SHOP_DATABASE_URL);
    await migrate(SHOP_DATABASE_URL);
    const { users } = await prepareShop(prefix);
    api = await startShopApi(prefix, SHOP_DATABASE_URL, {
      cacheTtl: '0',
      extraNodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    });
    const path = (user: string) => `/v1/recommendations?userId=${user}&limit=10`;
    await loadUsers({ server: api, path, users, duration: 'every user once' });
    const stopPerf = WITH_PERF ? perfRecord({ pid: api.pid }, `${profileDir}perf.data`) : null;
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const load = await loadUsers({ server: api, path, users, duration: PROFILE_SECONDS });
    const toUs = Number(process.hrtime.bigint() / 1000n);
    const recording = stopPerf === null ? null : await stopPerf();
    const perfSymbols = recording?.topSymbols({ pid: api.pid }, TOP_SYMBOLS) ?? null;
    await api.stop();
    api = undefined;

    // Node names them CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile; the main thread's id is 0.
    const mainThread = readdirSync(profileDir).find((name) => name.split('.')[4] === '0');
    if (mainThread === undefined) throw new Error(`no profile of the API's main thread in ${profileDir}`);
    const file = `${profileDir}${mainThread}`;
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    if (fromUs < profile.startTime || toUs > profile.endTime)
      throw new Error('the load is not within the profile: its clock is not the one process.hrtime reads');
    const { byFunction, byArea, totalUs } = selfTimes(profile, fromUs, toUs);
    const share = (us: number) => `${((100 * us) / totalUs).toFixed(1)} %`;
    const perRequest = (us: number) => (us / Math.max(1, load.requests)).toFixed(1);
    console.log(
      [
        `profile: ${file}`,
        `load: ${PROFILE_SECONDS} s, ${Math.round(load.rps)} req/s under the profiler, p50 ${load.p50.toFixed(1)} ms, ` +
          `p99 ${load.p99.toFixed(1)} ms, server CPU ${load.cpuUs === null ? '–' : Math.round(load.cpuUs)} µs/req, ` +
          `${load.errors} errors; ${(totalUs / 1e6).toFixed(1)} s of samples in the load`,
        '',
        '| self time | µs/req | function | where |',
        '| ---: | ---: | --- | --- |',
        ...byFunction
          .slice(0, TOP_FUNCTIONS)
          .map((f) => `| ${share(f.us)} | ${perRequest(f.us)} | ${f.name} | ${f.where} |`),
        '',
        '| self time | µs/req | where the code lives |',
        '| ---: | ---: | --- |',
        ...[...byArea]
          .sort((a, b) => b[1] - a[1])
          .map(([area, us]) => `| ${share(us)} | ${perRequest(us)} | ${area} |`),
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
  }
}

await main();
