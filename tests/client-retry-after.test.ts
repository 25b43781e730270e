import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElevensClient } from '../packages/client/src';

/** The client against a running api whose rate limit a storefront's key has used up. */
let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let apiUrl: string;
let storefront: CreatedApiKey;

beforeAll(async () => {
  infra = await createTestInfra('client-retry-after');
  storefront = await createApiKey(infra.pool, { name: 'storefront', scopes: ['recommendations:read'] });
  api = await buildApiApp({
    config: loadApiConfig({
      ...infra.env,
      AUTH_REQUIRED: 'true',
      LOG_LEVEL: 'silent',
      RATE_LIMIT_WINDOW: '1m',
      RATE_LIMIT_RECOMMENDATIONS_READ: '1',
    }),
  });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api?.close();
  await infra?.close();
});

describe('Retry-After', () => {
  it('a 429 asking for longer than the longest wait is not sent again sooner: the call rejects at once', async () => {
    let requests = 0;
    const client = new ElevensClient({
      apiUrl,
      apiKey: storefront.secret,
      retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 20 },
      fetch: (input, init) => {
        requests++;
        return fetch(input, init);
      },
    });
    await client.recommendations({ userId: 'u1' });
    const limited = await client.recommendations({ userId: 'u1' }).catch((error: unknown) => error);
    expect(limited).toMatchObject({ status: 429, retryable: true });
    const { retryAfterMs } = limited as { retryAfterMs: number };
    expect(retryAfterMs).toBeGreaterThan(20);
    // Each early resend would be refused again, and spend the shelf's time for nothing.
    expect(requests).toBe(2);
  });
});
