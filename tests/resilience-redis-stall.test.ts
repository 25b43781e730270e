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
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishFixtureModel } from '../services/api/test/recommendations-fixtures';

/**
 * A Redis that keeps its connections open but answers nothing (a partition, a vanished host, a long script): the
 * proxy holds every byte the services send. Each answer must come within about the command timeout (its default,
 * REDIS_COMMAND_TIMEOUT unset: 1 s), not after TCP gives up minutes later, and not after one timeout per command a
 * request sends in turn (the rate limit's, the reply cache's, the user state's: 3 s).
 */
const ANSWER_BOUND_MS = 2_500;

let infra: TestInfra;
let apiProxy: TcpProxy;
let ingestProxy: TcpProxy;
let api: FastifyInstance;
let ingest: FastifyInstance;
let key: CreatedApiKey;
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('resilience-redis-stall');
  apiProxy = await startTcpProxy(infra.redisUrl);
  ingestProxy = await startTcpProxy(infra.redisUrl);
  key = await createApiKey(infra.pool, {
    name: 'shop',
    scopes: ['recommendations:read', 'push:decide', 'events:write'],
  });
  await publishFixtureModel(infra.redis, infra.keys);
  const env = { ...infra.env, AUTH_REQUIRED: 'true' };
  api = (await buildApiApp({
    config: loadApiConfig({ ...env, REDIS_URL: apiProxy.url(infra.redisUrl), MODEL_POLL_MS: '50' }),
    logging: { stream: logs.stream },
  })) as unknown as FastifyInstance;
  ingest = (await buildIngestApp({
    config: loadIngestConfig({
      ...env,
      REDIS_URL: ingestProxy.url(infra.redisUrl),
      INGEST_LIVE_STATE_TIMEOUT_MS: '100',
    }),
    logging: { stream: logs.stream },
  })) as unknown as FastifyInstance;
  await Promise.all([api.ready(), ingest.ready()]);
});

afterAll(async () => {
  apiProxy?.release();
  ingestProxy?.release();
  await api?.close();
  await ingest?.close();
  await apiProxy?.close();
  await ingestProxy?.close();
  await infra?.close();
});

const headers = () => ({ authorization: `Bearer ${key.secret}` });

/** The answer, or a failure naming the request when none came within the bound. */
async function answered(
  what: string,
  request: Promise<LightMyRequestResponse>,
): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer within ${ANSWER_BOUND_MS} ms`)),
      ANSWER_BOUND_MS,
    );
  });
  try {
    return await Promise.race([request, late]);
  } finally {
    clearTimeout(timer);
  }
}

const recommend = () =>
  answered(
    'recommendations',
    api.inject({ method: 'GET', url: '/v1/recommendations?userId=u1&limit=3', headers: headers() }),
  );
/** Reads the model in process only: Redis is met by the rate limit alone. */
const similar = () =>
  answered('similar items', api.inject({ method: 'GET', url: '/v1/items/a0/similar', headers: headers() }));
const decide = () =>
  answered(
    'push decision',
    api.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      headers: headers(),
      payload: { userId: 'u1', channel: 'push', campaignId: 'festival' },
    }),
  );
const postEvents = (eventId: string) =>
  answered(
    'events',
    ingest.inject({
      method: 'POST',
      url: '/v1/events',
      headers: headers(),
      payload: { events: [{ eventId, userId: 'u1', itemId: 'a0', type: 'view' }] },
    }),
  );
const putUser = () =>
  answered(
    'user preferences',
    ingest.inject({
      method: 'PUT',
      url: '/v1/users/u1',
      headers: headers(),
      payload: { timezone: 'Asia/Shanghai' },
    }),
  );

/** Polls until `check` holds, for at most ~10 s. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await check()) return true;
    await sleep(200);
  }
  return false;
}

describe('a Redis that stalls', () => {
  it('api: recommendations degrade, rate-limited routes serve and push decisions fail closed, within the bound; then recover', async () => {
    expect((await recommend()).json()).toMatchObject({ degraded: false });

    apiProxy.hold();

    const degraded = await recommend();
    expect(degraded.statusCode).toBe(200);
    expect(degraded.json()).toMatchObject({ degraded: true });
    expect(degraded.json().items.length).toBeGreaterThan(0);
    const similarItems = await similar();
    expect(similarItems.statusCode).toBe(200);
    const refused = await decide();
    expect(refused.statusCode).toBe(200);
    expect(refused.json()).toMatchObject({ allowed: false, reason: 'unavailable' });
    const readiness = await answered('readiness', api.inject({ method: 'GET', url: '/readyz' }));
    expect(readiness.statusCode).toBe(503);

    apiProxy.release();

    expect(
      await eventually(async () => {
        const response = await recommend();
        return response.statusCode === 200 && response.json().degraded === false;
      }),
    ).toBe(true);
    expect(await eventually(async () => (await decide()).json().reason !== 'unavailable')).toBe(true);
  });

  it('ingest: events are accepted and a Redis write answers 503, within the bound; then recover', async () => {
    expect((await postEvents('stall-before')).statusCode).toBe(200);

    ingestProxy.hold();

    const accepted = await postEvents('stall-during');
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ accepted: 1 });
    const refused = await putUser();
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ error: 'unavailable' });
    expect(refused.headers['retry-after']).toBe('1');

    ingestProxy.release();

    expect(await eventually(async () => (await putUser()).statusCode === 200)).toBe(true);
  });
});
