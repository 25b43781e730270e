import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElevensClient, ElevensError } from '../src';
import { slowFetch } from './slow-fetch';

/**
 * `recommendations(request, { signal })` against a running api: a single-page storefront cancels a shelf's request
 * when the shopper navigates away. The abort ends the call at once, is never retried, and is told apart from a
 * timeout; the client's own timeout still bounds each attempt.
 */
let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let apiUrl: string;

beforeAll(async () => {
  infra = await createTestInfra('client-recommendations-abort');
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api?.close();
  await infra?.close();
});

const shelf = { userId: 'navigator', context: 'home', limit: 4 } as const;

describe('ElevensClient.recommendations with a signal', () => {
  it('answers as usual while the signal is not aborted', async () => {
    const network = slowFetch(10);
    const client = new ElevensClient({ apiUrl, fetch: network.fetch });
    const reply = await client.recommendations(shelf, { signal: new AbortController().signal });
    expect(reply.userId).toBe('navigator');
    expect(network.attempts()).toBe(1);
  });

  it('rejects at once with aborted, not retried, when the shopper navigates away', async () => {
    const network = slowFetch(60_000);
    const client = new ElevensClient({
      apiUrl,
      timeoutMs: 30_000,
      retry: { retries: 3 },
      fetch: network.fetch,
    });
    const navigation = new AbortController();
    const started = Date.now();
    const call = client
      .recommendations(shelf, { signal: navigation.signal })
      .catch((error: unknown) => error);
    setTimeout(() => navigation.abort(), 20);
    const failure = await call;
    expect(failure).toBeInstanceOf(ElevensError);
    expect(failure).toMatchObject({ status: 0, code: 'aborted', retryable: false });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(network.attempts()).toBe(1);
  });

  it('rejects with aborted, not the status, when aborted while the body of an error answer is read', async () => {
    const navigation = new AbortController();
    const client = new ElevensClient({
      apiUrl,
      // As fetch does, the body fails when the request's signal aborts; the shopper leaves as it is read.
      fetch: async (_, init) => {
        const signal = init!.signal!;
        const body = new ReadableStream({
          start(stream) {
            stream.enqueue(new TextEncoder().encode('{"error":"bad_request",'));
            signal.addEventListener('abort', () => stream.error(signal.reason));
          },
          pull() {
            navigation.abort();
          },
        });
        return new Response(body, { status: 400, headers: { 'content-type': 'application/json' } });
      },
    });
    await expect(client.recommendations(shelf, { signal: navigation.signal })).rejects.toMatchObject({
      status: 0,
      code: 'aborted',
      retryable: false,
    });
  });

  it('sends nothing for a signal already aborted', async () => {
    const network = slowFetch(0);
    const client = new ElevensClient({ apiUrl, fetch: network.fetch });
    await expect(client.recommendations(shelf, { signal: AbortSignal.abort() })).rejects.toMatchObject({
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
      retry: { retries: 3, baseDelayMs: 60_000, maxDelayMs: 60_000 },
      fetch: network.fetch,
    });
    const navigation = new AbortController();
    const started = Date.now();
    const call = client
      .recommendations(shelf, { signal: navigation.signal })
      .catch((error: unknown) => error);
    // The first attempt times out at 50 ms; the abort comes while the client waits to retry.
    setTimeout(() => navigation.abort(), 300);
    expect(await call).toMatchObject({ status: 0, code: 'aborted', retryable: false });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(network.attempts()).toBe(1);
  });

  it('keeps its own timeout per attempt alongside the signal, and retries a timeout', async () => {
    const network = slowFetch(60_000);
    const client = new ElevensClient({
      apiUrl,
      timeoutMs: 50,
      retry: { retries: 1, baseDelayMs: 1 },
      fetch: network.fetch,
    });
    const failure = await client
      .recommendations(shelf, { signal: new AbortController().signal })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ status: 0, code: 'timeout', retryable: true });
    expect(network.attempts()).toBe(2);
  });
});
