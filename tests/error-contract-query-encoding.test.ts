/**
 * A query string whose percent-encoding does not decode is refused like such a path (docs/security.md, "Error
 * answers"): 400, never an answer for an id the client did not mean (`userId=%E0%A4%A` read as those 9 characters).
 */
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
let api: FastifyInstance;
let ingest: FastifyInstance;

beforeAll(async () => {
  infra = await createTestInfra('error-contract-query-encoding');
  const env = { ...infra.env, LOG_LEVEL: 'silent' };
  api = (await buildApiApp({ config: loadApiConfig(env) })) as unknown as FastifyInstance;
  ingest = (await buildIngestApp({ config: loadIngestConfig(env) })) as unknown as FastifyInstance;
});

afterAll(async () => {
  await api?.close();
  await ingest?.close();
  await infra?.close();
});

describe('a query string that is not validly percent-encoded UTF-8', () => {
  it('is answered 400 in the error shape on every service and route', async () => {
    for (const [app, url] of [
      [api, '/v1/recommendations?userId=%E0%A4%A'],
      [api, '/v1/recommendations?userId=u1&context=%FF'],
      [api, '/v1/trending?category=%'],
      [api, '/healthz?probe=%zz'],
      [ingest, '/v1/users/u1?%C3=1'],
    ] as const) {
      const response = await app.inject({ method: url.startsWith('/v1/users') ? 'DELETE' : 'GET', url });
      expect(response.statusCode, url).toBe(400);
      expect(response.json(), url).toEqual({
        error: 'bad_request',
        message: 'the URL is not validly percent-encoded UTF-8',
      });
    }
  });

  it('leaves a valid encoding alone', async () => {
    const response = await api.inject({ method: 'GET', url: '/v1/recommendations?userId=%E2%82%AC+1%25' });
    expect(response.statusCode).toBe(200);
    expect(response.json().userId).toBe('€ 1%');
  });
});
