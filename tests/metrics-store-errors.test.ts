import { randomUUID } from 'node:crypto';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { encodeDecisionId } from '@elevens/push-rules';
import {
  createLogSink,
  createTestInfra,
  metricSample as sample,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A route that answers a store failure with its own 503 still counts it as a request failed on that store
// (docs/operations.md: the error "or the error it wraps as `cause`"): the alert on
// elevens_postgres_errors_total{service="ingest"} is the one that says events are being refused.

let infra: TestInfra;
let proxy: TcpProxy;
let redisProxy: TcpProxy;
let ingest: FastifyInstance;
let api: FastifyInstance;
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('metrics-store-errors');
  proxy = await startTcpProxy(infra.databaseUrl);
  redisProxy = await startTcpProxy(infra.redisUrl);
  const env = { ...infra.env, DATABASE_URL: proxy.url(infra.databaseUrl) };
  ingest = (await buildIngestApp({
    config: loadIngestConfig(env),
    logging: { stream: logs.stream },
  })) as unknown as FastifyInstance;
  api = (await buildApiApp({
    config: loadApiConfig({ ...infra.env, REDIS_URL: redisProxy.url(infra.redisUrl) }),
    logging: { stream: logs.stream },
  })) as unknown as FastifyInstance;
  await Promise.all([ingest.ready(), api.ready()]);
});

afterAll(async () => {
  await Promise.all([ingest?.close(), api?.close()]);
  await Promise.all([proxy?.close(), redisProxy?.close()]);
  await infra?.close();
});

describe('store errors of requests', () => {
  it('counts an event write refused for a lost Postgres as a Postgres request error', async () => {
    const post = (id: string) =>
      ingest.inject({
        method: 'POST',
        url: '/v1/events',
        payload: { events: [{ eventId: id, userId: 'u1', itemId: 'i1', type: 'view' }] },
      });
    expect((await post('before')).statusCode).toBe(200);
    await proxy.refuse();
    try {
      const refused = await post('during');
      expect(refused.statusCode).toBe(503);
      expect(refused.json().message).toBe('events could not be stored, retry shortly');
    } finally {
      await proxy.restore();
    }
    const text = (await ingest.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'elevens_postgres_errors_total', { source: 'request', service: 'ingest' })).toBe(1);
  });

  it('counts a push release refused for a lost Redis as a Redis request error', async () => {
    const release = () =>
      api.inject({
        method: 'DELETE',
        url: `/v1/push/decisions/${encodeDecisionId(randomUUID(), Date.now(), 'u1')}`,
      });
    expect((await release()).statusCode).toBe(200);
    await redisProxy.refuse();
    try {
      const refused = await release();
      expect(refused.statusCode).toBe(503);
      expect(refused.json().message).toBe('the reservation could not be released, retry shortly');
    } finally {
      await redisProxy.restore();
    }
    const text = (await api.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'elevens_redis_errors_total', { source: 'request', service: 'api' })).toBe(1);
  });
});
