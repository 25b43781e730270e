import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { testApiConfig } from './recommendations-fixtures';

interface Operation {
  security?: unknown[];
  responses?: Record<string, unknown>;
}

let infra: TestInfra;
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-openapi');
  app = await buildApiApp({ config: testApiConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

describe('GET /docs/json', () => {
  it('documents the 503 load shedding answers on every route that needs a key', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs/json' });
    const paths = response.json().paths as Record<string, Record<string, Operation>>;
    const undocumented = Object.entries(paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => (operation.security ?? []).length > 0 && !operation.responses?.['503'])
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(undocumented).toEqual([]);
  });
});
