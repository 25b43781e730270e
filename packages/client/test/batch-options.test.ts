import { describe, expect, it } from 'vitest';
import { ElevensClient } from '../src';

/**
 * The batch options as a storefront passes them, often read from its own configuration: a flush interval no timer
 * waits (over 2^31-1 ms, about 24.8 days) is a RangeError at construction, as a retry delay that long is, rather
 * than an interval cut to the timer's limit without a word.
 */
const ingestUrl = 'http://ingest.test';
const unreachable: typeof fetch = async () => {
  throw new TypeError('fetch failed: no request is expected');
};

describe('batch options', () => {
  it.each([2 ** 31, 30 * 86_400_000, Number.POSITIVE_INFINITY, Number.NaN, -1])(
    'throws a RangeError naming batch.flushIntervalMs for %d',
    (flushIntervalMs) => {
      const construct = () =>
        new ElevensClient({ ingestUrl, fetch: unreachable, batch: { flushIntervalMs } });
      expect(construct).toThrow(RangeError);
      expect(construct).toThrow('batch.flushIntervalMs');
    },
  );

  it.each([0, 2 ** 31 - 1])('takes a flush interval of %d ms, which a timer waits', (flushIntervalMs) => {
    expect(
      () => new ElevensClient({ ingestUrl, fetch: unreachable, batch: { flushIntervalMs } }),
    ).not.toThrow();
  });
});
