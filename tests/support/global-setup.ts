import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import { createRedis, pingRedis, waitUntilReady } from '@elevens/redis-stores';
import { redisClusterUnavailable, startRedisCluster } from '@elevens/testkit/redis-cluster';
import type { TestProject } from 'vitest/node';

const LOCAL_PG = 'postgres://root@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOURCE_CONDITION = '--conditions=@elevens/source';

const run = promisify(execFile);

/**
 * Brings dist/ up to date with the sources (`npm run build`: tsc's incremental build, a second when nothing
 * changed), so the processes the tests start run the compiled packages, as the images do. When the build fails
 * (a type error in work in progress), they run the sources through tsx instead, as the elevens bin does under the
 * source condition, and the run says so.
 */
async function buildForChildProcesses(): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    await run(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: ROOT });
    await run(process.execPath, ['scripts/finish-build.mjs'], { cwd: ROOT });
  } catch (error) {
    const output = (error as { stdout?: string }).stdout?.trim().split('\n')[0] ?? String(error);
    console.warn(
      `tests: npm run build failed (${output}); the processes they start run the sources through tsx`,
    );
    process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, SOURCE_CONDITION].filter(Boolean).join(' ');
  }
}

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

interface Infra {
  pgServerUrl: string;
  redisUrl: string;
  stop: () => Promise<void>;
}

/**
 * Where the integration tests' Postgres and Redis come from: TEST_DATABASE_URL / TEST_REDIS_URL when set;
 * otherwise containers when a Docker engine answers; otherwise the default local services.
 */
async function provisionInfra(): Promise<Infra> {
  const explicitPg = process.env.TEST_DATABASE_URL;
  const explicitRedis = process.env.TEST_REDIS_URL;
  if (explicitPg || explicitRedis || !dockerAnswers()) {
    return {
      pgServerUrl: explicitPg ?? LOCAL_PG,
      redisUrl: explicitRedis ?? LOCAL_REDIS,
      stop: async () => {},
    };
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { RedisContainer } = await import('@testcontainers/redis');
  const [pg, redis] = await Promise.all([
    new PostgreSqlContainer('postgres:16-alpine').withDatabase('postgres').start(),
    new RedisContainer('redis:7-alpine').start(),
  ]);
  return {
    pgServerUrl: pg.getConnectionUri(),
    redisUrl: redis.getConnectionUrl(),
    stop: async () => {
      await Promise.all([pg.stop(), redis.stop()]);
    },
  };
}

/**
 * Builds dist/, provisions Postgres and Redis, and starts the local Redis Cluster the run's files share
 * (`sharedRedisCluster` in packages/testkit) all at once: the cluster's nodes mostly wait (a node reports the
 * cluster ready no sooner than two seconds after it starts), so they start within the build's time. The
 * teardown stops it; should the run be killed first, its watcher does (packages/testkit/src/redis-cluster.ts).
 */
export default async function setup(project: TestProject) {
  // Should a step fail, the run ends, and the cluster's nodes with this process (redis-cluster.ts).
  const [, infra, cluster] = await Promise.all([
    buildForChildProcesses(),
    provisionInfra(),
    redisClusterUnavailable() === null ? startRedisCluster() : null,
  ]);
  const redis = createRedis(infra.redisUrl);
  const redisUp = (await waitUntilReady(redis, 5_000)) && (await pingRedis(redis));
  redis.disconnect();
  if (!redisUp) throw new Error(`Redis does not answer at ${infra.redisUrl}`);

  const template = `elevens_template_${randomBytes(4).toString('hex')}`;
  const templateUrl = new URL(infra.pgServerUrl);
  templateUrl.pathname = `/${template}`;
  await ensureDatabase(templateUrl.toString());
  await migrate(templateUrl.toString());

  project.provide('pgServerUrl', infra.pgServerUrl);
  project.provide('pgTemplateDatabase', template);
  project.provide('redisUrl', infra.redisUrl);
  project.provide('redisCluster', cluster === null ? null : { nodes: cluster.nodes, seeds: cluster.seeds });

  return async () => {
    await dropDatabase(infra.pgServerUrl, template);
    await Promise.all([infra.stop(), cluster?.stop()]);
  };
}
