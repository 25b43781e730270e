import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db';
import { createRedis, pingRedis, waitUntilReady } from '@elevens/redis-stores';
import type { TestProject } from 'vitest/node';

const LOCAL_PG = 'postgres://root@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

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

export default async function setup(project: TestProject) {
  const infra = await provisionInfra();
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

  return async () => {
    await dropDatabase(infra.pgServerUrl, template);
    await infra.stop();
  };
}
