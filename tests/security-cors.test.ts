import { buildApiApp, loadApiConfig } from '@elevens/api';
import { ConfigError } from '@elevens/config';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SHOP = 'https://shop.example';

let infra: TestInfra;
let withCors: FastifyInstance;
let withoutCors: FastifyInstance;
let reader: CreatedApiKey;

beforeAll(async () => {
  infra = await createTestInfra('security-cors');
  reader = await createApiKey(infra.pool, { name: 'browser', scopes: ['recommendations:read'] });
  const env = { ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' };
  const apps = await Promise.all([
    buildApiApp({ config: loadApiConfig({ ...env, CORS_ORIGINS: `${SHOP}, http://localhost:5173` }) }),
    buildApiApp({ config: loadApiConfig(env) }),
  ]);
  [withCors, withoutCors] = apps as unknown as [FastifyInstance, FastifyInstance];
});

afterAll(async () => {
  await Promise.all([withCors?.close(), withoutCors?.close()]);
  await infra?.close();
});

const preflight = (app: FastifyInstance, origin: string) =>
  app.inject({
    method: 'OPTIONS',
    url: '/v1/recommendations?userId=u1',
    headers: {
      origin,
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    },
  });

describe('CORS_ORIGINS', () => {
  it('answers preflights from a configured origin without a key, allowing the key headers', async () => {
    const response = await preflight(withCors, SHOP);
    expect(response.statusCode).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(SHOP);
    expect(String(response.headers['access-control-allow-headers'])).toMatch(/authorization/);
    expect(String(response.headers['access-control-allow-headers'])).toMatch(/x-api-key/);
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    expect(withCors.routeAccess).toContainEqual({ method: 'OPTIONS', url: '*', scope: null, public: true });
  });

  it('lets a browser page read answers (errors included) with a read-only key', async () => {
    const ok = await withCors.inject({
      method: 'GET',
      url: '/v1/recommendations?userId=u1',
      headers: { origin: SHOP, authorization: `Bearer ${reader.secret}` },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(SHOP);
    const refused = await withCors.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      headers: { origin: SHOP, authorization: `Bearer ${reader.secret}` },
      payload: {},
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['access-control-allow-origin']).toBe(SHOP);
  });

  it('answers an OPTIONS request that is no preflight as 405 answers say it works, never in another shape', async () => {
    const refused = await withCors.inject({ method: 'DELETE', url: '/v1/recommendations?userId=u1' });
    expect(refused.headers.allow).toMatch(/OPTIONS/);
    for (const headers of [{}, { origin: SHOP }, { 'access-control-request-method': 'GET' }]) {
      const response = await withCors.inject({ method: 'OPTIONS', url: '/v1/recommendations', headers });
      expect(response.statusCode, JSON.stringify(headers)).toBe(204);
      expect(response.body).toBe('');
    }
  });

  it('gives other origins no CORS headers', async () => {
    const response = await preflight(withCors, 'https://evil.example');
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends no CORS headers at all when no origin is configured', async () => {
    const response = await withoutCors.inject({
      method: 'GET',
      url: '/v1/recommendations?userId=u1',
      headers: { origin: SHOP, authorization: `Bearer ${reader.secret}` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    expect((await preflight(withoutCors, SHOP)).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses origins that are not scheme://host[:port], in one line naming the variable', () => {
    for (const bad of ['shop.example', 'https://shop.example/path', 'ftp://shop.example']) {
      expect(() => loadApiConfig({ CORS_ORIGINS: bad })).toThrow(ConfigError);
      expect(() => loadApiConfig({ CORS_ORIGINS: bad })).toThrow(/CORS_ORIGINS/);
    }
    expect(loadApiConfig({ CORS_ORIGINS: '*' }).CORS_ORIGINS).toEqual(['*']);
  });
});
