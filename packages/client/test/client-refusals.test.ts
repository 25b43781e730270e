import { describe, expect, it } from 'vitest';
import { ElevensClient, type ElevensError } from '../src';

const unreachable: typeof fetch = async () => {
  throw new Error('no request should be sent');
};

describe("the client's own refusals", () => {
  it('reject without an apiUrl or ingestUrl, not throw, and are not retryable', async () => {
    const client = new ElevensClient({ fetch: unreachable });
    const calls = [
      () => client.recommendations({ userId: 'u1' }),
      () => client.decidePush({ userId: 'u1', channel: 'push', campaignId: 'c1' }),
      () => client.sendEvents([{ userId: 'u1', itemId: 'i1', type: 'view' }]),
    ];
    for (const call of calls) {
      let pending: Promise<unknown> | undefined;
      expect(() => {
        pending = call();
      }).not.toThrow();
      await expect(pending).rejects.toMatchObject({ code: 'not_configured', retryable: false });
    }
  });

  it('say events dropped from a full queue are not retryable', () => {
    const errors: ElevensError[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      fetch: unreachable,
      batch: { maxEvents: 100, maxQueuedEvents: 1, flushIntervalMs: 60_000 },
      onError: (error) => errors.push(error),
    });
    client.track({ userId: 'u1', itemId: 'i1', type: 'view' });
    client.track({ userId: 'u1', itemId: 'i2', type: 'view' });
    expect(errors).toMatchObject([{ code: 'queue_full', retryable: false }]);
  });
});
