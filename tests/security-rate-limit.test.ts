import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
/** Two API processes sharing one Redis: a limit holds across them. */
let apiA: FastifyInstance;
let apiB: FastifyInstance;
let ingest: FastifyInstance;
let reader: CreatedApiKey;
let otherReader: CreatedApiKey;
let admin: CreatedApiKey;

const READ_LIMIT = 5;
const ADMIN_LIMIT = 2;

beforeAll(async () => {
  infra = await createTestInfra('security-rate-limit');
  reader = await createApiKey(infra.pool, { name: 'storefront', scopes: ['recommendations:read'] });
  otherReader = await createApiKey(infra.pool, { name: 'other shop', scopes: ['recommendations:read'] });
  admin = await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] });
  const env = {
    ...infra.env,
    AUTH_REQUIRED: 'true',
    LOG_LEVEL: 'silent',
    RATE_LIMIT_WINDOW: '1m',
    RATE_LIMIT_RECOMMENDATIONS_READ: String(READ_LIMIT),
    RATE_LIMIT_ADMIN: String(ADMIN_LIMIT),
  };
  const apps = await Promise.all([
    buildApiApp({ config: loadApiConfig(env) }),
    buildApiApp({ config: loadApiConfig(env) }),
    buildIngestApp({ config: loadIngestConfig(env) }),
  ]);
  [apiA, apiB, ingest] = apps as unknown as [FastifyInstance, FastifyInstance, FastifyInstance];
});

afterAll(async () => {
  await Promise.all([apiA?.close(), apiB?.close(), ingest?.close()]);
  await infra?.close();
});

const recommendations = (app: FastifyInstance, key: CreatedApiKey) =>
  app.inject({
    method: 'GET',
    url: '/v1/recommendations?userId=u1',
    headers: { authorization: `Bearer ${key.secret}` },
  });

describe('rate limits per key', () => {
  it('counts a key across processes and answers 429 with Retry-After and the error shape', async () => {
    for (let n = 0; n < READ_LIMIT; n++) {
      const response = await recommendations(n % 2 === 0 ? apiA : apiB, reader);
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBe(String(READ_LIMIT));
      expect(response.headers['x-ratelimit-remaining']).toBe(String(READ_LIMIT - n - 1));
    }
    const limited = await recommendations(apiB, reader);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: 'rate_limited', message: expect.any(String) });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('keeps other keys within their own budget', async () => {
    expect((await recommendations(apiA, otherReader)).statusCode).toBe(200);
  });

  it('applies the limit of the scope a route requires, counted separately per scope', async () => {
    const erase = () =>
      ingest.inject({
        method: 'DELETE',
        url: '/v1/users/u-rate',
        headers: { 'x-api-key': admin.secret },
      });
    for (let n = 0; n < ADMIN_LIMIT; n++) expect((await erase()).statusCode).toBe(200);
    expect((await erase()).statusCode).toBe(429);
    // The same admin key still has its whole recommendations:read budget.
    expect((await recommendations(apiA, admin)).statusCode).toBe(200);
  });

  it('does not limit public routes', async () => {
    for (let n = 0; n < READ_LIMIT + 3; n++) {
      const response = await apiA.inject({
        method: 'GET',
        url: '/healthz',
        headers: { authorization: `Bearer ${reader.secret}` },
      });
      expect(response.statusCode).toBe(200);
    }
  });

  it('does not count requests without a key when keys are not required', async () => {
    const open = await buildApiApp({
      config: loadApiConfig({
        ...infra.env,
        LOG_LEVEL: 'silent',
        RATE_LIMIT_RECOMMENDATIONS_READ: String(READ_LIMIT),
      }),
    });
    try {
      for (let n = 0; n < READ_LIMIT + 3; n++) {
        const response = await open.inject({ method: 'GET', url: '/v1/recommendations?userId=u1' });
        expect(response.statusCode).toBe(200);
      }
    } finally {
      await open.close();
    }
  });
});
