import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElevensClient, ElevensError } from '../src';
import { slowFetch } from './slow-fetch';

/**
 * `decidePush(request, { signal })` and `releasePush(decisionId, { signal })` against a running api: a storefront
 * server whose own request timed out cancels the push call and its retries, as `recommendations()` allows.
 */
let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let apiUrl: string;

beforeAll(async () => {
  infra = await createTestInfra('client-push-abort');
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api?.close();
  await infra?.close();
});

const message = (userId: string) => ({ userId, channel: 'push', campaignId: 'double-eleven' }) as const;

type PushCall = (client: ElevensClient, signal: AbortSignal) => Promise<unknown>;

const calls: [string, PushCall][] = [
  ['decidePush', (client, signal) => client.decidePush(message('abort-decide'), { signal })],
  [
    'releasePush',
    async (client, signal) => {
      const decision = await new ElevensClient({ apiUrl }).decidePush(message('abort-release'));
      return client.releasePush(decision.decisionId, { signal });
    },
  ],
];

describe.each(calls)('ElevensClient.%s with a signal', (_, call) => {
  it('answers as usual while the signal is not aborted', async () => {
    const network = slowFetch(10);
    const client = new ElevensClient({ apiUrl, fetch: network.fetch });
    expect(await call(client, new AbortController().signal)).toEqual(expect.any(Object));
    expect(network.attempts()).toBe(1);
  });

  it('rejects at once with aborted, not retried, when aborted during an attempt', async () => {
    // Unaborted, the attempt would be answered after 3 s.
    const network = slowFetch(3_000);
    const client = new ElevensClient({
      apiUrl,
      timeoutMs: 30_000,
      retry: { retries: 3 },
      fetch: network.fetch,
    });
    const caller = new AbortController();
    const started = Date.now();
    const failure = call(client, caller.signal).catch((error: unknown) => error);
    setTimeout(() => caller.abort(), 50);
    const error = await failure;
    expect(error).toBeInstanceOf(ElevensError);
    expect(error).toMatchObject({ status: 0, code: 'aborted', retryable: false });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(network.attempts()).toBe(1);
  });

  it('sends nothing for a signal already aborted', async () => {
    const network = slowFetch(0);
    const client = new ElevensClient({ apiUrl, fetch: network.fetch });
    await expect(call(client, AbortSignal.abort())).rejects.toMatchObject({
      status: 0,
      code: 'aborted',
      retryable: false,
    });
    expect(network.attempts()).toBe(0);
  });

  it('ends the wait before a retry when aborted during it', async () => {
    const network = slowFetch(60_000);
    const client = new ElevensClient({
      apiUrl,
      timeoutMs: 50,
      retry: { retries: 1, baseDelayMs: 3_000, maxDelayMs: 3_000 },
      fetch: network.fetch,
    });
    const caller = new AbortController();
    const started = Date.now();
    const failure = call(client, caller.signal).catch((error: unknown) => error);
    // The first attempt times out at 50 ms; the abort comes while the client waits to retry.
    setTimeout(() => caller.abort(), 300);
    expect(await failure).toMatchObject({ status: 0, code: 'aborted', retryable: false });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(network.attempts()).toBe(1);
  });
});
