import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElevensClient } from '../src';

/**
 * `decidePush` against a running api, with a fetch that loses answers: an allowed decision reserves its slot, so
 * the same request sent again is refused as duplicate_campaign and the caller would never learn it was allowed.
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

/** A fetch whose first call reaches the service and then fails as `loseAnswer` says; later calls pass. */
function fetchLosingFirstAnswer(loseAnswer: (init: RequestInit | undefined) => Promise<Response>) {
  let attempts = 0;
  const fetchOnce: typeof fetch = async (input, init) => {
    attempts++;
    const response = await fetch(input, init);
    if (attempts > 1) return response;
    await response.arrayBuffer();
    return loseAnswer(init);
  };
  return { fetch: fetchOnce, attempts: () => attempts };
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
  ])('does not send a decision again when %s after it reached the service', async (_, loseAnswer) => {
    const lossy = fetchLosingFirstAnswer(loseAnswer);
    const client = new ElevensClient({
      apiUrl,
      timeoutMs: 500,
      retry: { retries: 2, baseDelayMs: 1 },
      fetch: lossy.fetch,
    });
    const userId = `lost-answer-${loseAnswer.name}`;
    const decided = client
      .decidePush({ userId, channel: 'push', campaignId: 'double-eleven' })
      .then((reply) => ({ reply }))
      .catch((error: unknown) => ({ error }));
    // Resent, it would resolve as { allowed: false, reason: 'duplicate_campaign' }: the push never goes out.
    expect(await decided).toMatchObject({ error: { name: 'ElevensError' } });
    expect(lossy.attempts()).toBe(1);
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
