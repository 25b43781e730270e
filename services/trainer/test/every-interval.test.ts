import { describe, expect, it } from 'vitest';
import { parseEvery } from '../src';

describe('elevens build --every', () => {
  it('refuses an interval a timer cannot wait (over 2^31 - 1 ms, about 24.8 days): Node waits 1 ms instead, building back to back', () => {
    expect(() => parseEvery('30d')).toThrow(/^--every must be at most 24d, got "30d"$/);
    expect(() => parseEvery('600h')).toThrow(/--every must be at most 24d/);
    expect(parseEvery('24d')).toBe(24 * 86_400_000);
    expect(parseEvery('7d')).toBe(7 * 86_400_000);
  });
});
