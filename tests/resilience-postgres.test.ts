import { setTimeout as sleep } from 'node:timers/promises';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishFixtureModel } from '../services/api/test/recommendations-fixtures';

let infra: TestInfra;
let proxy: TcpProxy;
let ingest: FastifyInstance;
let api: FastifyInstance;
let key: CreatedApiKey;
let env: Record<string, string>;
/** The outages' warnings and errors, asserted below instead of printed among the test results. */
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('resilience-postgres');
  proxy = await startTcpProxy(infra.databaseUrl);
  key = await createApiKey(infra.pool, { name: 'shop', scopes: ['events:write', 'recommendations:read'] });
  await publishFixtureModel(infra.redis, infra.keys);
  // Both services reach Postgres only through the proxy; keys are required, as in production.
  env = {
    ...infra.env,
    DATABASE_URL: proxy.url(infra.databaseUrl),
    AUTH_REQUIRED: 'true',
    MODEL_POLL_MS: '50',
  };
  const apps = await Promise.all([
    buildIngestApp({ config: loadIngestConfig(env), logging: { stream: logs.stream } }),
    buildApiApp({ config: loadApiConfig(env), logging: { stream: logs.stream } }),
  ]);
  [ingest, api] = apps as unknown as [FastifyInstance, FastifyInstance];
  await Promise.all([ingest.ready(), api.ready()]);
});

afterAll(async () => {
  await Promise.all([ingest?.close(), api?.close()]);
  await proxy?.close();
  await infra?.close();
});

const headers = () => ({ authorization: `Bearer ${key.secret}` });
const events = (prefix: string) =>
  Array.from({ length: 5 }, (_, i) => ({
    eventId: `${prefix}-${i}`,
    userId: 'u1',
    itemId: 'a0',
    type: 'view',
  }));
const postEvents = (prefix: string) =>
  ingest.inject({
    method: 'POST',
    url: '/v1/events',
    headers: headers(),
    payload: { events: events(prefix) },
  });
const storedCount = async (prefix: string) => {
  const { rows } = await infra.pool.query('SELECT count(*)::int AS n FROM events WHERE event_id LIKE $1', [
    `${prefix}-%`,
  ]);
  return rows[0].n as number;
};
const recommend = (app: FastifyInstance = api) =>
  app.inject({ method: 'GET', url: '/v1/recommendations?userId=u1&limit=3', headers: headers() });

const expectUnavailable = (response: Awaited<ReturnType<typeof recommend>>) => {
  expect(response.statusCode, response.body).toBe(503);
  expect(response.json()).toMatchObject({ error: 'unavailable', message: expect.any(String) });
  expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
};

describe('Postgres down', () => {
  it('ingest answers 503 with Retry-After and acknowledges nothing; serving is unaffected; both recover', async () => {
    expect((await postEvents('before')).statusCode).toBe(200);
    expect(await storedCount('before')).toBe(5);
    expect((await recommend()).statusCode).toBe(200);

    await proxy.refuse();

    expectUnavailable(await postEvents('during'));
    expectUnavailable(
      await ingest.inject({
        method: 'PUT',
        url: '/v1/items',
        headers: headers(),
        payload: { items: [{ itemId: 'new-item', categoryId: 'a' }] },
      }),
    );
    expectUnavailable(
      await ingest.inject({
        method: 'PUT',
        url: '/v1/users/u1',
        headers: headers(),
        payload: { timezone: 'UTC' },
      }),
    );
    const ready = await ingest.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.postgres).toBe('down');
    expect(logs.messages()).toContain('event write failed');

    for (let n = 0; n < 3; n++) {
      const served = await recommend();
      expect(served.statusCode).toBe(200);
      expect(served.json().items.length).toBeGreaterThan(0);
    }

    await proxy.restore();
    const retried = await postEvents('during');
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ accepted: 5, duplicates: 0 });
    expect(await storedCount('during')).toBe(5);
  });

  it('answers 503 when its connection is cut mid-write, and a retry stores each event exactly once', async () => {
    // Hold the idempotency table so the write is in flight inside Postgres when the connection is cut.
    const locker = await infra.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE event_ids IN ACCESS EXCLUSIVE MODE');
      const pending = postEvents('cut');
      let waiting = 0;
      for (let attempt = 0; attempt < 100 && waiting === 0; attempt++) {
        await sleep(50);
        const { rows } = await infra.pool.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        waiting = rows[0].n;
      }
      expect(waiting).toBeGreaterThan(0);
      proxy.cut();
      expectUnavailable(await pending);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    // The cut write may or may not have committed after the client left; the retry must not double it.
    const retried = await postEvents('cut');
    expect(retried.statusCode, retried.body).toBe(200);
    const reply = retried.json() as { accepted: number; duplicates: number };
    expect(reply.accepted + reply.duplicates).toBe(5);
    expect(await storedCount('cut')).toBe(5);
  });

  it('a serving process that starts while Postgres is down verifies keys from the Redis copy', async () => {
    await proxy.refuse();
    try {
      const fresh = (await buildApiApp({
        config: loadApiConfig(env),
        logging: { stream: logs.stream },
      })) as unknown as FastifyInstance;
      try {
        const served = await recommend(fresh);
        expect(served.statusCode).toBe(200);
        const unknown = await fresh.inject({
          method: 'GET',
          url: '/v1/recommendations?userId=u1',
          headers: { authorization: 'Bearer elv_unknown' },
        });
        expect(unknown.statusCode).toBe(401);
        expect(logs.messages()).toContain('API keys loaded from the Redis copy until their store answers');
      } finally {
        await fresh.close();
      }
    } finally {
      await proxy.restore();
    }
  });
});
