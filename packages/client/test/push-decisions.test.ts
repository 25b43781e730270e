import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElevensClient } from '../src';

/**
 * `decidePush` against a running api, with a fetch that loses answers: an allowed decision reserves its slot, so a
 * plain resend would be refused as duplicate_campaign and the caller would never learn it was allowed. The client
 * sends an Idempotency-Key, so a resend gets the first decision back.
 */
let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let apiUrl: string;

beforeAll(async () => {
  infra = await createTestInfra('client-push-decisions');
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api?.close();
  await infra?.close();
});

/**
 * A fetch whose first call reaches the service and then fails as `loseAnswer` says; later calls pass. Keeps the
 * answer the service gave the first call, and each attempt's Idempotency-Key.
 */
function fetchLosingFirstAnswer(loseAnswer: (init: RequestInit | undefined) => Promise<Response>) {
  const keys: (string | null)[] = [];
  let lostAnswer: unknown;
  const fetchOnce: typeof fetch = async (input, init) => {
    keys.push(new Headers(init?.headers).get('idempotency-key'));
    const response = await fetch(input, init);
    if (keys.length > 1) return response;
    lostAnswer = await response.json();
    return loseAnswer(init);
  };
  return { fetch: fetchOnce, attempts: () => keys.length, keys: () => keys, lostAnswer: () => lostAnswer };
}

const connectionReset = async (): Promise<Response> => {
  throw new TypeError('fetch failed: connection reset after the request was sent');
};

/** Waits for the attempt's timeout and fails as fetch then does. */
const timedOut = (init: RequestInit | undefined) =>
  new Promise<Response>((_, reject) => {
    const signal = init?.signal;
    if (!signal) throw new Error('the request carries no timeout signal');
    signal.addEventListener('abort', () => reject(signal.reason));
  });

const gatewayTimeout = async () => new Response('<html>504 Gateway Time-out</html>', { status: 504 });

describe('ElevensClient.decidePush', () => {
  it.each([
    ['the connection is reset', connectionReset],
    ['the attempt times out', timedOut],
    ['a proxy answers 504', gatewayTimeout],
  ])('gets the first decision back when %s after it reached the service', async (_, loseAnswer) => {
    const lossy = fetchLosingFirstAnswer(loseAnswer);
    const client = new ElevensClient({
      apiUrl,
      timeoutMs: 500,
      retry: { retries: 2, baseDelayMs: 1 },
      fetch: lossy.fetch,
    });
    const userId = `lost-answer-${loseAnswer.name}`;
    // Resent without its key, it would resolve as { allowed: false, reason: 'duplicate_campaign' }.
    const reply = await client.decidePush({ userId, channel: 'push', campaignId: 'double-eleven' });
    expect(lossy.attempts()).toBe(2);
    expect(lossy.lostAnswer()).toMatchObject({ allowed: true, reason: 'ok' });
    expect(reply).toEqual(lossy.lostAnswer());
    const [first, second] = lossy.keys();
    expect(first).toEqual(expect.any(String));
    expect(second).toBe(first);
  });

  it('sends the Idempotency-Key the caller gives, so a resend from another process gets the same decision', async () => {
    const request = { userId: 'own-key', channel: 'push', campaignId: 'double-eleven' } as const;
    const idempotencyKey = 'order-4711-push';
    const first = await new ElevensClient({ apiUrl }).decidePush(request, { idempotencyKey });
    const again = await new ElevensClient({ apiUrl }).decidePush(request, { idempotencyKey });
    expect(first).toMatchObject({ allowed: true, reason: 'ok' });
    expect(again).toEqual(first);
    const otherMessage = await new ElevensClient({ apiUrl }).decidePush(request);
    expect(otherMessage).toMatchObject({ allowed: false, reason: 'duplicate_campaign' });
  });

  it('sends a decision again when the service refused it before deciding (503)', async () => {
    let attempts = 0;
    const client = new ElevensClient({
      apiUrl,
      retry: { retries: 2, baseDelayMs: 1 },
      fetch: async (input, init) => {
        attempts++;
        if (attempts === 1)
          return Response.json(
            { error: 'unavailable', message: 'the service is overloaded, retry shortly' },
            { status: 503, headers: { 'retry-after': '0' } },
          );
        return fetch(input, init);
      },
    });
    const reply = await client.decidePush({
      userId: 'shed-once',
      channel: 'push',
      campaignId: 'double-eleven',
    });
    expect(reply).toMatchObject({ allowed: true, reason: 'ok' });
    expect(attempts).toBe(2);
  });

  it('sends a dry run again after a lost answer: it reserves nothing', async () => {
    const lossy = fetchLosingFirstAnswer(connectionReset);
    const client = new ElevensClient({ apiUrl, retry: { retries: 2, baseDelayMs: 1 }, fetch: lossy.fetch });
    const reply = await client.decidePush({
      userId: 'dry-run',
      channel: 'push',
      campaignId: 'double-eleven',
      dryRun: true,
    });
    expect(reply).toMatchObject({ allowed: true, reason: 'ok' });
    expect(lossy.attempts()).toBe(2);
  });
});
