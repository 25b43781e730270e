import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
let key: CreatedApiKey;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  infra = await createTestInfra('http-contract-answers');
  key = await createApiKey(infra.pool, {
    name: 'backend',
    scopes: ['recommendations:read', 'push:decide', 'events:write'],
  });
});

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await infra?.close();
});

const env = (extra: Record<string, string> = {}) => ({
  ...infra.env,
  AUTH_REQUIRED: 'true',
  LOG_LEVEL: 'silent',
  ...extra,
});

async function api(extra: Record<string, string> = {}) {
  const app = (await buildApiApp({ config: loadApiConfig(env(extra)) })) as unknown as FastifyInstance;
  apps.push(app);
  return app;
}

async function ingest() {
  const app = (await buildIngestApp({ config: loadIngestConfig(env()) })) as unknown as FastifyInstance;
  apps.push(app);
  return app;
}

const headers = () => ({ authorization: `Bearer ${key.secret}` });

describe('the rate limit names its window as configured', () => {
  it.each([
    ['500ms', 'per 500ms'],
    ['1500ms', 'per 1.5s'],
    ['1m', 'per 1m'],
  ])('RATE_LIMIT_WINDOW=%s: "%s"', async (window, wording) => {
    const app = await api({ RATE_LIMIT_WINDOW: window, RATE_LIMIT_RECOMMENDATIONS_READ: '1' });
    // Requests until one is refused: a window may end between two of them, none may end between every pair.
    let refused: Awaited<ReturnType<FastifyInstance['inject']>> | undefined;
    for (let attempt = 0; attempt < 20 && refused === undefined; attempt++) {
      const response = await app.inject({
        method: 'GET',
        url: `/v1/items/a0/similar?window=${encodeURIComponent(window)}`,
        headers: headers(),
      });
      if (response.statusCode === 429) refused = response;
    }
    expect(refused?.json()).toMatchObject({ error: 'rate_limited' });
    expect(refused?.json().message).toContain(`1 recommendations:read requests ${wording};`);
  });
});

describe('a body of a media type no parser takes', () => {
  it('is answered 415 by both services, whatever the route', async () => {
    const [apiApp, ingestApp] = await Promise.all([api(), ingest()]);
    const answers = await Promise.all([
      apiApp.inject({
        method: 'POST',
        url: '/v1/push/decisions',
        headers: { ...headers(), 'content-type': 'text/plain' },
        payload: '{"userId":"u1","channel":"push","campaignId":"c1"}',
      }),
      ingestApp.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { ...headers(), 'content-type': 'text/plain' },
        payload: '{"events":[]}',
      }),
    ]);
    for (const answer of answers) {
      expect(answer.statusCode).toBe(415);
      expect(answer.json()).toMatchObject({ error: 'unsupported_media_type' });
    }
  });
});
