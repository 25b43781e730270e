import { randomUUID } from 'node:crypto';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
import { createBaseApp, hashUserIdsInUrl, userIdHasher } from '@elevens/http';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { encodeDecisionId } from '@elevens/push-rules';
import { createLogSink, createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HASH_KEY = 'a-test-hash-key-of-enough-length';

let infra: TestInfra;
let key: CreatedApiKey;

beforeAll(async () => {
  infra = await createTestInfra('security-logging');
  key = await createApiKey(infra.pool, {
    name: 'storefront',
    scopes: ['recommendations:read', 'events:write'],
  });
});

afterAll(async () => {
  await infra?.close();
});

describe('no secrets in logs', () => {
  it('never writes a key to the logs of either service, at trace level, whatever the outcome', async () => {
    const logs = createLogSink();
    const env = { ...infra.env, AUTH_REQUIRED: 'true' };
    const logging = { level: 'trace', stream: logs.stream };
    const api = await buildApiApp({ config: loadApiConfig(env), logging });
    const ingest = await buildIngestApp({ config: loadIngestConfig(env), logging });
    const unknownSecret = 'elv_unknownSecretThatMustNotBeLogged0000000000';
    try {
      for (const app of [api, ingest] as unknown as FastifyInstance[]) {
        for (const headers of [
          { authorization: `Bearer ${key.secret}` },
          { 'x-api-key': key.secret },
          { authorization: `Bearer ${unknownSecret}` },
          { authorization: `Basic ${key.secret}` },
        ]) {
          await app.inject({ method: 'GET', url: '/v1/recommendations?userId=u1', headers });
          await app.inject({ method: 'POST', url: '/v1/events', headers, payload: { events: [{}] } });
          await app.inject({ method: 'DELETE', url: '/v1/users/u1', headers });
          await app.inject({ method: 'GET', url: `/nowhere?key=1`, headers });
        }
      }
    } finally {
      await Promise.all([api.close(), ingest.close()]);
    }
    const text = logs.text();
    expect(text.length).toBeGreaterThan(1000);
    expect(text).not.toContain(key.secret);
    expect(text).not.toContain(key.secret.slice(4));
    expect(text).not.toContain(unknownSecret);
  });

  it('redacts keys and authorization headers that code logs explicitly', async () => {
    const logs = createLogSink();
    const app = createBaseApp({ logging: { level: 'info', stream: logs.stream } });
    app.get('/log', { config: { public: true } }, async (request) => {
      request.log.info({ headers: request.headers }, 'headers');
      request.log.info({ req: { headers: request.headers } }, 'request');
      request.log.info({ apiKey: key.secret, secret: key.secret, nested: { secret: key.secret } }, 'values');
      request.log.info({ 'x-api-key': key.secret, authorization: `Bearer ${key.secret}` }, 'top level');
      return { ok: true };
    });
    await app.inject({
      method: 'GET',
      url: '/log',
      headers: { authorization: `Bearer ${key.secret}`, 'x-api-key': key.secret, cookie: 'session=abc' },
    });
    await app.close();
    const text = logs.text();
    expect(text).toContain('[redacted]');
    expect(text).not.toContain(key.secret);
    expect(text).not.toContain('session=abc');
  });
});

describe('LOG_HASH_USER_IDS', () => {
  const hash = userIdHasher(HASH_KEY);
  const ERIN_DECISION = encodeDecisionId(randomUUID(), Date.UTC(2026, 10, 11), 'erin-private');

  it('logs user ids of URLs and log fields only as keyed hashes', async () => {
    const logs = createLogSink();
    const env = {
      ...infra.env,
      LOG_HASH_USER_IDS: 'true',
      LOG_USER_ID_HASH_KEY: HASH_KEY,
    };
    const logging = { level: 'info', stream: logs.stream };
    const api = await buildApiApp({ config: loadApiConfig(env), logging });
    const ingest = await buildIngestApp({ config: loadIngestConfig(env), logging });
    try {
      await api.inject({ method: 'GET', url: '/v1/recommendations?userId=alice%40example.com&limit=3' });
      await ingest.inject({ method: 'PUT', url: '/v1/users/bob-private', payload: { timezone: 'UTC' } });
      // A push decision id carries its user id in base64url.
      await api.inject({ method: 'DELETE', url: `/v1/push/decisions/${ERIN_DECISION}` });
      api.log.info({ userId: 'carol-private', event: { userId: 'dave-private' } }, 'a route logs a user');
    } finally {
      await Promise.all([api.close(), ingest.close()]);
    }
    const text = logs.text();
    for (const userId of [
      'alice@example.com',
      'alice%40example.com',
      'bob-private',
      'carol-private',
      'dave-private',
      ERIN_DECISION,
    ]) {
      expect(text).not.toContain(userId);
    }
    expect(text).toContain(hash(ERIN_DECISION));
    for (const userId of ['alice@example.com', 'bob-private', 'carol-private', 'dave-private']) {
      expect(text).toContain(hash(userId));
    }
    expect(text).toContain('limit=3');
  });

  it('hashes the user id in the path of a request no route answers (wrong method, wrong service, bad URL)', async () => {
    const logs = createLogSink();
    const env = { ...infra.env, LOG_HASH_USER_IDS: 'true', LOG_USER_ID_HASH_KEY: HASH_KEY };
    const logging = { level: 'info', stream: logs.stream };
    const api = await buildApiApp({ config: loadApiConfig(env), logging });
    const ingest = await buildIngestApp({ config: loadIngestConfig(env), logging });
    try {
      // ingest has PUT and DELETE on /v1/users/:userId: a GET is a 405
      expect((await ingest.inject({ method: 'GET', url: '/v1/users/frank-private' })).statusCode).toBe(405);
      // erasure sent to the api instead of ingest: a 404
      expect((await api.inject({ method: 'DELETE', url: '/v1/users/grace-private' })).statusCode).toBe(404);
      expect(
        (await api.inject({ method: 'GET', url: `/v1/push/decisions/${ERIN_DECISION}` })).statusCode,
      ).toBe(405);
      expect(
        (await api.inject({ method: 'GET', url: '/v1/push/users/heidi-private/budget/x' })).statusCode,
      ).toBe(404);
      expect((await ingest.inject({ method: 'DELETE', url: '/v1/users/ivan-private%zz' })).statusCode).toBe(
        400,
      );
    } finally {
      await Promise.all([api.close(), ingest.close()]);
    }
    const text = logs.text();
    expect(text).toContain('incoming request');
    for (const userId of ['frank-private', 'grace-private', ERIN_DECISION, 'heidi-private', 'ivan-private']) {
      expect(text).not.toContain(userId);
    }
    for (const userId of ['frank-private', 'grace-private', ERIN_DECISION, 'heidi-private']) {
      expect(text).toContain(hash(userId));
    }
  });

  it('hashes every userId of a query and the path segment holding the user id, keeping the rest', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.array(fc.tuple(fc.constantFrom('limit', 'cursor', 'x'), fc.string({ maxLength: 8 })), {
          maxLength: 3,
        }),
        (userId, others) => {
          const query = new URLSearchParams([['userId', userId], ...others]);
          const hashedQuery = new URLSearchParams(
            hashUserIdsInUrl(`/v1/recommendations?${query}`, [], hash).split('?')[1],
          );
          expect(hashedQuery.getAll('userId')).toEqual([hash(userId)]);
          for (const [name] of others) expect(hashedQuery.getAll(name)).toEqual(query.getAll(name));
          const path = hashUserIdsInUrl(`/v1/users/${encodeURIComponent(userId)}`, [userId], hash);
          expect(path).toBe(`/v1/users/${hash(userId)}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the same id the same hash under one key and different hashes under another', () => {
    expect(hash('u1')).toBe(userIdHasher(HASH_KEY)('u1'));
    expect(hash('u1')).not.toBe(hash('u2'));
    expect(hash('u1')).not.toBe(userIdHasher(`${HASH_KEY}-other`)('u1'));
    expect(hash('u1')).toMatch(/^uh_[0-9a-f]{16}$/);
  });
});
