import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
import { redactSecretsInUrl } from '@elevens/http';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createLogSink, createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
let key: CreatedApiKey;

beforeAll(async () => {
  infra = await createTestInfra('security-keys-in-urls');
  key = await createApiKey(infra.pool, {
    name: 'storefront',
    scopes: ['recommendations:read', 'events:write'],
  });
});

afterAll(async () => {
  await infra?.close();
});

/** The ways integrators put a key in a URL: named parameters, the underscore percent-encoded, a path segment. */
const urlsWithKey = (secret: string) => [
  `/v1/recommendations?userId=u1&apiKey=${secret}`,
  `/v1/recommendations?api_key=${secret}&userId=u1`,
  `/v1/recommendations?userId=u1&key=${secret.replace('_', '%5F')}`,
  `/v1/recommendations?userId=u1&authorization=Bearer%20${secret}`,
  `/v1/events?token=${secret}`,
  `/v1/items/${secret}/similar`,
  `/nowhere/${secret}?key=${secret}`,
  `/healthz?apiKey=${secret}`,
];

describe('an API key sent in a URL', () => {
  it.each([
    ['as sent', 'false'],
    ['with user ids hashed', 'true'],
  ])('is never written to the logs of either service (user ids %s)', async (_name, hashUserIds) => {
    const logs = createLogSink();
    const env = {
      ...infra.env,
      AUTH_REQUIRED: 'true',
      LOG_HASH_USER_IDS: hashUserIds,
      LOG_USER_ID_HASH_KEY: 'a-test-hash-key-of-enough-length',
    };
    const logging = { level: 'trace', stream: logs.stream };
    const api = (await buildApiApp({ config: loadApiConfig(env), logging })) as unknown as FastifyInstance;
    const ingest = (await buildIngestApp({
      config: loadIngestConfig(env),
      logging,
    })) as unknown as FastifyInstance;
    try {
      for (const app of [api, ingest]) {
        for (const url of urlsWithKey(key.secret)) {
          // Without a key header (401 on scoped routes), and with one as well (the request is served).
          for (const headers of [{}, { 'x-api-key': key.secret }]) {
            const response = await app.inject({ method: 'GET', url, headers });
            expect(response.statusCode, url).toBeLessThan(500);
          }
        }
      }
    } finally {
      await Promise.all([api.close(), ingest.close()]);
    }
    const text = logs.text();
    expect(text).toContain('incoming request');
    expect(text).toContain('elv_[redacted]');
    expect(text).not.toContain(key.secret);
    expect(text).not.toContain(key.secret.slice(4));
  });

  it('is not read, and the 401 says so', async () => {
    const env = { ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' };
    const api = await buildApiApp({ config: loadApiConfig(env) });
    try {
      const inUrl = await api.inject({
        method: 'GET',
        url: `/v1/recommendations?userId=u1&apiKey=${key.secret}`,
      });
      expect(inUrl.statusCode).toBe(401);
      expect(inUrl.json()).toMatchObject({ error: 'unauthorized' });
      expect(inUrl.json().message).toContain('a key in the URL is not read');
      expect(inUrl.body).not.toContain(key.secret);
      const none = await api.inject({ method: 'GET', url: '/v1/recommendations?userId=u1' });
      expect(none.statusCode).toBe(401);
      expect(none.json().message).not.toContain('URL');
    } finally {
      await api.close();
    }
  });

  it('is redacted from the logged URL, the rest of the URL kept as sent', () => {
    const secret = 'elv_AbC-dEf_0123456789abcdefghijklmnopqrstuvwxy';
    expect(redactSecretsInUrl(`/v1/recommendations?userId=u%201&apiKey=${secret}&limit=3`)).toBe(
      '/v1/recommendations?userId=u%201&apiKey=elv_[redacted]&limit=3',
    );
    expect(redactSecretsInUrl(`/v1/items/${secret}/similar?k=ELV%5F${secret.slice(4)}`)).toBe(
      '/v1/items/elv_[redacted]/similar?k=elv_[redacted]',
    );
    expect(redactSecretsInUrl('/v1/recommendations?userId=shelves&limit=3')).toBe(
      '/v1/recommendations?userId=shelves&limit=3',
    );
  });
});
