/**
 * bench:compare — this tree's computed path against another revision's, on the user's path, in one run:
 * `npm run bench:compare -- [revision]` (default HEAD, so uncommitted changes are measured against the last
 * commit). The revision is checked out in a git worktree of its own (its dependencies copied from this tree's
 * node_modules when both lockfiles are the same, else `npm ci`) and built; then two API processes, the
 * revision's and this tree's, both with the reply cache off and the production node flags, serve the same shop
 * (shop.ts) on the same Redis keys, and autocannon asks each for recommendations of random users in alternating
 * slices of 2 s. This machine's speed drifts by up to 1.5 × over tens of seconds, so two runs of bench:api taken
 * one after the other cannot tell a change of a few per cent; alternating slices of one run can. Prints each
 * slice, then both processes' throughput and CPU per request and this tree's over the revision's.
 * BENCH_COMPARE_ROUNDS (default 10) sets the slices per process. The worktree and the run's keys are removed at
 * the end.
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRedisClient, deleteKeysWithPrefix } from '@elevens/redis-stores';
import { RUNTIME } from './runtime';
import { API_NODE_FLAGS, type BenchServer, benchRedis, startService } from './servers';
import {
  combineSlices,
  dropShopDatabase,
  type LoadFigures,
  loadUsers,
  prepareShop,
  SHOP_DATABASE_URL,
  startShopApi,
} from './shop';

const ROUNDS = Number(process.env.BENCH_COMPARE_ROUNDS ?? 10);
const SLICE_SECONDS = 2;
const LIMIT = 10;
const REPO = new URL('../../', import.meta.url).pathname;

const run = (command: string, args: readonly string[], cwd: string) =>
  execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });

/** A built checkout of `revision` in a new worktree; its path. */
function checkOut(revision: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'elevens-compare-'));
  run('git', ['worktree', 'add', '--detach', dir, revision], REPO);
  const lockfile = (root: string) => readFileSync(join(root, 'package-lock.json'), 'utf8');
  // The workspace packages are relative links in node_modules, so a copy resolves them in the worktree.
  if (lockfile(dir) === lockfile(REPO))
    cpSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), {
      recursive: true,
      verbatimSymlinks: true,
    });
  else run('npm', ['ci', '--no-audit', '--no-fund'], dir);
  run('npm', ['run', 'build', '--silent'], dir);
  if (!existsSync(join(dir, 'tests/bench/api-server.ts')))
    throw new Error(`${revision} has no tests/bench/api-server.ts to serve the shop with`);
  return dir;
}

const path = (user: string) => `/v1/recommendations?userId=${user}&limit=${LIMIT}`;
const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);

async function main() {
  const revision = process.argv[2] ?? 'HEAD';
  console.log(`runtime: ${RUNTIME}; this tree against ${revision}`);
  const dir = checkOut(revision);
  const prefix = `bench:compare:${randomBytes(4).toString('hex')}:`;
  const redis = createRedisClient(benchRedis());
  const servers: BenchServer[] = [];
  try {
    const { users } = await prepareShop(prefix, SHOP_DATABASE_URL);
    const base = await startService(
      pathToFileURL(join(dir, 'tests/bench/api-server.ts')).href,
      'serve',
      [prefix, SHOP_DATABASE_URL, '0'],
      { nodeFlags: API_NODE_FLAGS },
    );
    servers.push(base);
    const tree = await startShopApi(prefix, SHOP_DATABASE_URL, { cacheTtl: '0' });
    servers.push(tree);
    for (const server of servers) await loadUsers({ server, path, users, duration: 'every user once' });

    const baseSlices: LoadFigures[] = [];
    const treeSlices: LoadFigures[] = [];
    let treeAhead = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Which process goes first alternates too, so a drift of the machine's speed within a round favours neither.
      const slice = (server: BenchServer) => loadUsers({ server, path, users, duration: SLICE_SECONDS });
      let b: LoadFigures;
      let t: LoadFigures;
      if (round % 2 === 0) {
        b = await slice(base);
        t = await slice(tree);
      } else {
        t = await slice(tree);
        b = await slice(base);
      }
      baseSlices.push(b);
      treeSlices.push(t);
      if (t.rps > b.rps) treeAhead++;
      console.log(
        `slice ${round + 1}: ${revision} ${Math.round(b.rps)} req/s, ${b.cpuUs?.toFixed(0)} µs/req; ` +
          `this tree ${Math.round(t.rps)} req/s, ${t.cpuUs?.toFixed(0)} µs/req`,
      );
    }
    const b = combineSlices(baseSlices);
    const t = combineSlices(treeSlices);
    console.log(
      `${revision}: ${Math.round(b.rps)} req/s, ${b.cpuUs?.toFixed(1)} µs/req; this tree: ${Math.round(t.rps)} req/s, ` +
        `${t.cpuUs?.toFixed(1)} µs/req; this tree's throughput ${(t.rps / b.rps).toFixed(3)} × ${revision}'s, ahead ` +
        `in ${treeAhead} of ${ROUNDS} slices; errors ${sum([...baseSlices, ...treeSlices].map((x) => x.errors))}`,
    );
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    await dropShopDatabase(SHOP_DATABASE_URL);
    run('git', ['worktree', 'remove', '--force', dir], REPO);
  }
}

await main();
