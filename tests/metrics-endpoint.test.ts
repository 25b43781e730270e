import { buildApiApp, loadApiConfig } from '@elevens/api';
import { classifyConnectionError } from '@elevens/http';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { publishModel } from '@elevens/redis-stores';
import { createLogSink, createTestInfra, metricSample as sample, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

let infra: TestInfra;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  infra = await createTestInfra('metrics-endpoint');
});

afterAll(async () => {
  for (const close of closers) await close();
  await infra.close();
});

describe('GET /metrics', () => {
  it('counts requests and latency per route pattern, not per raw URL', async () => {
    const app = await buildApiApp({ config: loadApiConfig(infra.env) });
    closers.push(() => app.close());
    for (const user of ['u1', 'u2', 'u3']) {
      const response = await app.inject({ method: 'GET', url: `/v1/recommendations?userId=${user}` });
      expect(response.statusCode).toBe(200);
    }
    await app.inject({ method: 'GET', url: '/no/such/route' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const text = response.body;
    const route = { route: '/v1/recommendations', method: 'GET', status: '200', service: 'api' };
    expect(sample(text, 'elevens_http_requests_total', route)).toBe(3);
    expect(sample(text, 'elevens_http_request_duration_seconds_count', route)).toBe(3);
    expect(sample(text, 'elevens_http_request_duration_seconds_bucket', { ...route, le: '+Inf' })).toBe(3);
    expect(sample(text, 'elevens_http_requests_total', { route: '(unmatched)', status: '404' })).toBe(1);
    expect(text).not.toContain('userId=');
    expect(text).toContain('# TYPE elevens_model_age_seconds gauge');
    expect(text).toContain('elevens_process_cpu_user_seconds_total');
  });

  it('reports the served model version and age', async () => {
    const app = await buildApiApp({ config: loadApiConfig(infra.env) });
    closers.push(() => app.close());
    const empty = { ptr: new Uint32Array(2), idx: new Uint32Array(0), score: new Float32Array(0) };
    await publishModel(infra.redis, infra.keys, {
      version: 'v-test-1',
      algorithm: 'cosine',
      builtAtMs: Date.now() - 120_000,
      itemIds: ['i1'],
      itemCategories: [''],
      neighbors: empty,
      boughtTogether: empty,
      popular: { idx: [0], score: [1] },
      trending: { idx: [0], score: [1] },
      popularByCategory: new Map(),
    });
    await app.model.refresh();
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'elevens_model_info', { version: 'v-test-1' })).toBe(1);
    const age = sample(text, 'elevens_model_age_seconds', {})!;
    expect(age).toBeGreaterThanOrEqual(120);
    expect(age).toBeLessThan(3600);
  });

  it('counts events stored through the ingest route by type, duplicates excluded', async () => {
    const app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
    closers.push(() => app.close());
    const events = [
      { eventId: 'm1', userId: 'u1', itemId: 'i1', type: 'view' },
      { eventId: 'm2', userId: 'u1', itemId: 'i2', type: 'cart' },
    ];
    for (let i = 0; i < 2; i++) {
      expect((await app.inject({ method: 'POST', url: '/v1/events', payload: { events } })).statusCode).toBe(
        200,
      );
    }
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'elevens_events_ingested_total', { type: 'view' })).toBe(1);
    expect(sample(text, 'elevens_events_ingested_total', { type: 'cart' })).toBe(1);
  });

  it('counts events by type and push decisions by reason through app.metrics', async () => {
    const app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
    closers.push(() => app.close());
    app.metrics.recordEvents([{ type: 'view' }, { type: 'view' }, { type: 'purchase' }]);
    app.metrics.recordPushDecision({ channel: 'push', reason: 'cap_exceeded' });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'elevens_events_ingested_total', { type: 'view', service: 'ingest' })).toBe(2);
    expect(sample(text, 'elevens_events_ingested_total', { type: 'purchase' })).toBe(1);
    expect(sample(text, 'elevens_push_decisions_total', { channel: 'push', reason: 'cap_exceeded' })).toBe(1);
  });

  it('counts Postgres connections lost by requests and by the idle pool', async () => {
    const logs = createLogSink();
    const app = await buildApiApp({ config: loadApiConfig(infra.env), logging: { stream: logs.stream } });
    closers.push(() => app.close());
    // A fixture route whose query loses its connection: it waits behind the test's lock on model_runs until the
    // test terminates the backend running it.
    app.get('/test/lose-connection', { config: { public: true } }, async () => {
      await app.modelRuns.list(1);
      return {};
    });
    const locker = await infra.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE model_runs IN ACCESS EXCLUSIVE MODE');
      const answer = app.inject({ method: 'GET', url: '/test/lose-connection' });
      await vi.waitFor(
        async () => {
          const { rowCount } = await infra.pool.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'elevens-api' AND wait_event_type = 'Lock'`,
          );
          expect(rowCount).toBe(1);
        },
        { timeout: 5_000, interval: 20 },
      );
      expect((await answer).statusCode).toBeGreaterThanOrEqual(500);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    expect(logs.messages()).toContain('a data store is unavailable');
    expect(await app.postgresHealth.ping()).toBe(true);
    await infra.pool.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'elevens-api'",
    );
    await vi.waitFor(
      async () => {
        const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
        expect(sample(text, 'elevens_postgres_errors_total', { source: 'request' })).toBe(1);
        expect(sample(text, 'elevens_postgres_errors_total', { source: 'client' })).toBeGreaterThan(0);
      },
      { timeout: 5_000, interval: 50 },
    );
  });

  it('counts the Redis client reporting a lost server', async () => {
    // the api's fail-fast client does not queue start-up commands while it cannot connect
    const logs = createLogSink();
    const app = await buildApiApp({
      config: loadApiConfig({ ...infra.env, REDIS_URL: 'redis://127.0.0.1:1' }),
      logging: { stream: logs.stream },
    });
    closers.push(() => app.close());
    // The client reports each failed reconnection attempt; the first ones came before the plugin listened.
    await vi.waitFor(
      async () => {
        const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
        expect(sample(text, 'elevens_redis_errors_total', { source: 'client' })).toBeGreaterThan(0);
      },
      { timeout: 5_000, interval: 100 },
    );
    expect(logs.messages()).toContain('could not read the served model');
  });
});

describe('classifyConnectionError', () => {
  const ports = { redis: 6380, postgres: 5433 };
  it.each([
    [{ name: 'MaxRetriesPerRequestError', message: 'Reached the max retries per request limit' }, 'redis'],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'redis'],
    [Object.assign(new Error('terminating connection'), { code: '57P01' }), 'postgres'],
    [Object.assign(new Error('connection failure'), { code: '08006' }), 'postgres'],
    [new Error('Connection terminated unexpectedly'), 'postgres'],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', port: 6380 }), 'redis'],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', port: 5433 }), 'postgres'],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', port: 80 }), null],
    [Object.assign(new Error('duplicate key'), { code: '23505' }), null],
    [new Error('body too large'), null],
    [Object.assign(new Error('events could not be stored'), { cause: { code: '08006' } }), 'postgres'],
    ['not an error', null],
  ])('%o → %s', (error, expected) => {
    expect(classifyConnectionError(error, ports)).toBe(expected);
  });
});
