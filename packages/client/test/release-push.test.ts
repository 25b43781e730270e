import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElevensClient, ElevensError } from '../src';

/**
 * `releasePush` against a running api: a sender whose send failed gives the decision's slot back
 * (`DELETE /v1/push/decisions/:decisionId`, docs/push.md), so the campaign may go out again.
 */
let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let apiUrl: string;

beforeAll(async () => {
  infra = await createTestInfra('client-release-push');
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api?.close();
  await infra?.close();
});

const message = (userId: string) => ({ userId, channel: 'push', campaignId: 'double-eleven' }) as const;

describe('ElevensClient.releasePush', () => {
  it('gives the slot back, so the campaign may be decided again; a second release finds nothing', async () => {
    const client = new ElevensClient({ apiUrl });
    const decision = await client.decidePush(message('release-once'));
    expect(decision).toMatchObject({ allowed: true, reason: 'ok' });
    expect(await client.releasePush(decision.decisionId)).toEqual({
      decisionId: decision.decisionId,
      released: true,
    });
    expect(await client.decidePush(message('release-once'))).toMatchObject({ allowed: true, reason: 'ok' });
    expect(await client.releasePush(decision.decisionId)).toEqual({
      decisionId: decision.decisionId,
      released: false,
    });
  });

  it('sends the release again after a lost answer: the slot is given back once', async () => {
    const decision = await new ElevensClient({ apiUrl }).decidePush(message('release-lost-answer'));
    let attempts = 0;
    const client = new ElevensClient({
      apiUrl,
      retry: { retries: 2, baseDelayMs: 1 },
      fetch: async (input, init) => {
        attempts++;
        const response = await fetch(input, init);
        if (attempts === 1) throw new TypeError('fetch failed: connection reset after the request was sent');
        return response;
      },
    });
    // The first attempt released it; the retry finds nothing left to release.
    expect(await client.releasePush(decision.decisionId)).toEqual({
      decisionId: decision.decisionId,
      released: false,
    });
    expect(attempts).toBe(2);
    expect(await client.decidePush(message('release-lost-answer'))).toMatchObject({ allowed: true });
  });

  it('rejects a decision id the service never issued with its 400, not retried', async () => {
    let attempts = 0;
    const client = new ElevensClient({
      apiUrl,
      fetch: (input, init) => {
        attempts++;
        return fetch(input, init);
      },
    });
    const failure = await client.releasePush('not/a decision?id').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ElevensError);
    expect(failure).toMatchObject({ status: 400, code: 'bad_request', retryable: false });
    expect(attempts).toBe(1);
  });
});
