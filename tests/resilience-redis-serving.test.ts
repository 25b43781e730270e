import { setTimeout as sleep } from 'node:timers/promises';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
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
let api: FastifyInstance;
let key: CreatedApiKey;
/** The outage's warnings, asserted below instead of printed among the test results. */
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('resilience-redis-serving');
  proxy = await startTcpProxy(infra.redisUrl);
  key = await createApiKey(infra.pool, { name: 'shop', scopes: ['recommendations:read', 'push:decide'] });
  await publishFixtureModel(infra.redis, infra.keys);
  api = (await buildApiApp({
    config: loadApiConfig({
      ...infra.env,
      REDIS_URL: proxy.url(infra.redisUrl),
      AUTH_REQUIRED: 'true',
      MODEL_POLL_MS: '50',
    }),
    logging: { stream: logs.stream },
  })) as unknown as FastifyInstance;
  await api.ready();
});

afterAll(async () => {
  await api?.close();
  await proxy?.close();
  await infra?.close();
});

const headers = () => ({ authorization: `Bearer ${key.secret}` });
const recommend = () =>
  api.inject({ method: 'GET', url: '/v1/recommendations?userId=u1&limit=3', headers: headers() });
const decide = () =>
  api.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    headers: headers(),
    payload: { userId: 'u1', channel: 'push', campaignId: 'festival' },
  });

/** Polls until `check` holds (the services reconnect on their own schedule), for at most ~10 s. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await check()) return true;
    await sleep(200);
  }
  return false;
}

describe('Redis down, serving', () => {
  it('answers recommendations from memory, degraded, and push decisions fail closed; both recover', async () => {
    const before = await recommend();
    expect(before.statusCode).toBe(200);
    expect(before.json()).toMatchObject({ degraded: false });
    const allowedBefore = await decide();
    expect(allowedBefore.statusCode).toBe(200);
    expect(allowedBefore.json().reason).not.toBe('unavailable');

    await proxy.refuse();

    const degraded = await recommend();
    expect(degraded.statusCode).toBe(200);
    expect(degraded.json()).toMatchObject({ degraded: true });
    expect(degraded.json().items.length).toBeGreaterThan(0);
    const refused = await decide();
    expect(refused.statusCode).toBe(200);
    expect(refused.json()).toMatchObject({ allowed: false, reason: 'unavailable' });
    expect(logs.messages()).toContain('push decision unavailable');

    await proxy.restore();

    expect(
      await eventually(async () => {
        const response = await recommend();
        return response.statusCode === 200 && response.json().degraded === false;
      }),
    ).toBe(true);
    expect(
      await eventually(async () => {
        const response = await decide();
        return response.statusCode === 200 && response.json().reason !== 'unavailable';
      }),
    ).toBe(true);
  });
});
