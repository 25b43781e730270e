/**
 * A store that is reachable but refuses writes for a while (a Postgres hot standby or a Redis replica that a
 * process still reaches after a failover) is a store outage like a refused connection: 503 with Retry-After, so
 * clients retry (the typed client drops a batch answered 500), not a 500 that reads as a bug in the request.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createRedis, waitUntilReady } from '@elevens/redis-stores';
import { createTestInfra, freePort, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
let replica: ChildProcess | null = null;
let replicaUrl = '';

/** A Redis replica of a master that does not answer (port 1): it serves reads and refuses every write. */
async function startReadOnlyReplica(): Promise<void> {
  const port = await freePort();
  replica = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--replicaof',
      '127.0.0.1',
      '1',
    ],
    { stdio: 'ignore' },
  );
  replicaUrl = `redis://127.0.0.1:${port}`;
  const probe = createRedis(replicaUrl);
  try {
    expect(await waitUntilReady(probe, 10_000)).toBe(true);
  } finally {
    probe.disconnect();
  }
}

beforeAll(async () => {
  infra = await createTestInfra('resilience-failover-states');
  await startReadOnlyReplica();
});

afterAll(async () => {
  if (replica && replica.exitCode === null) {
    replica.kill();
    await once(replica, 'exit');
  }
  await infra?.close();
});

const putUser = (app: FastifyInstance) =>
  app.inject({
    method: 'PUT',
    url: '/v1/users/u-failover',
    payload: { timezone: 'Asia/Shanghai', consent: { personalization: true, push: true } },
  });

function expectRetryableOutage(response: Awaited<ReturnType<typeof putUser>>) {
  expect(response.statusCode, response.body).toBe(503);
  expect(response.headers['retry-after']).toBe('1');
  expect(response.json()).toEqual({ error: 'unavailable', message: expect.any(String) });
}

describe('a store refusing writes after a failover', () => {
  it('answers 503 with Retry-After while Postgres is a read-only standby', async () => {
    const database = new URL(infra.databaseUrl).pathname.slice(1);
    await infra.pool.query(`ALTER DATABASE "${database}" SET default_transaction_read_only = on`);
    const ingest = (await buildIngestApp({
      config: loadIngestConfig({ ...infra.env, LOG_LEVEL: 'silent' }),
    })) as unknown as FastifyInstance;
    try {
      expectRetryableOutage(await putUser(ingest));
    } finally {
      await ingest.close();
      await infra.pool.query(`ALTER DATABASE "${database}" RESET default_transaction_read_only`);
    }
  });

  it('answers 503 with Retry-After while Redis is a read-only replica', async () => {
    const ingest = (await buildIngestApp({
      config: loadIngestConfig({ ...infra.env, REDIS_URL: replicaUrl, LOG_LEVEL: 'silent' }),
    })) as unknown as FastifyInstance;
    try {
      expectRetryableOutage(await putUser(ingest));
    } finally {
      await ingest.close();
    }
  });
});
