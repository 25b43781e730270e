import { describe, expect, it } from 'vitest';
import { ElevensClient, ElevensError } from '../src';

/**
 * The retry policy and the per-attempt timeout as a storefront passes them, often computed or read from its own
 * configuration: a value left undefined takes its default, and one no timer can follow (NaN, negative, endless)
 * is a RangeError at construction, as the batch options are, rather than calls retried without end or rejected
 * with a bare RangeError.
 */
const apiUrl = 'http://api.test';

/** A network down for `failures` attempts, answering after that. */
function downFor(failures: number) {
  let attempts = 0;
  const flaky: typeof fetch = async () => {
    attempts++;
    if (attempts <= failures) throw new TypeError('fetch failed: connection refused');
    return Response.json({ userId: 'u1', items: [] });
  };
  return { fetch: flaky, attempts: () => attempts };
}

describe('retry and timeout options', () => {
  it('reads a retry option given as undefined as its default: three retries, not retries without end', async () => {
    const network = downFor(10);
    const client = new ElevensClient({
      apiUrl,
      retry: { retries: undefined as unknown as number, baseDelayMs: 1, maxDelayMs: 1 },
      fetch: network.fetch,
    });
    await expect(client.recommendations({ userId: 'u1' })).rejects.toMatchObject({
      code: 'network',
      retryable: true,
    });
    expect(network.attempts()).toBe(4);
  });

  it('reads a batch option given as undefined as its default', () => {
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      fetch: downFor(0).fetch,
      batch: { maxEvents: undefined as unknown as number, flushIntervalMs: 60_000 },
    });
    for (let i = 0; i < 99; i++) client.track({ userId: 'u1', itemId: `i${i}`, type: 'view' });
    // The default batch of 100 events is not full yet: nothing was sent, all wait.
    expect(client.pendingEvents).toBe(99);
  });

  it.each([
    ['retry.retries', { retry: { retries: Number.NaN } }],
    ['retry.retries', { retry: { retries: -1 } }],
    ['retry.retries', { retry: { retries: 1.5 } }],
    ['retry.retries', { retry: { retries: Number.POSITIVE_INFINITY } }],
    ['retry.baseDelayMs', { retry: { baseDelayMs: Number.NaN } }],
    ['retry.baseDelayMs', { retry: { baseDelayMs: -1 } }],
    ['retry.maxDelayMs', { retry: { maxDelayMs: Number.POSITIVE_INFINITY } }],
    ['retry.maxDelayMs', { retry: { maxDelayMs: 2 ** 31 } }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['timeoutMs', { timeoutMs: Number.NaN }],
    ['timeoutMs', { timeoutMs: -5 }],
    ['timeoutMs', { timeoutMs: 2 ** 31 }],
  ])('throws a RangeError naming %s for %o', (name, options) => {
    expect(() => new ElevensClient({ apiUrl, ...options })).toThrow(RangeError);
    expect(() => new ElevensClient({ apiUrl, ...options })).toThrow(name);
  });

  it('takes a timeout with a fraction of a millisecond (a share of a budget) and answers', async () => {
    const client = new ElevensClient({ apiUrl, timeoutMs: 2_000 / 3, fetch: downFor(0).fetch });
    await expect(client.recommendations({ userId: 'u1' })).resolves.toMatchObject({ userId: 'u1' });
  });

  it('still rejects every failed call with an ElevensError', async () => {
    const client = new ElevensClient({
      apiUrl,
      timeoutMs: 10.5,
      retry: { retries: 0 },
      fetch: downFor(1).fetch,
    });
    await expect(client.recommendations({ userId: 'u1' })).rejects.toBeInstanceOf(ElevensError);
  });
});
