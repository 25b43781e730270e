import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from '../src/lru';

describe('LruCache', () => {
  it('never holds more than its capacity and keeps whatever was used within the last capacity / 2 operations', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 15 })), { maxLength: 200 }),
        (capacity, operations) => {
          const cache = new LruCache<number, number>(capacity);
          const lastUse = new Map<number, number>();
          const stored = new Map<number, number>();
          operations.forEach(([write, key], time) => {
            if (write) {
              cache.set(key, time);
              stored.set(key, time);
              lastUse.set(key, time);
            } else {
              const value = cache.get(key);
              if (value !== undefined) {
                expect(value).toBe(stored.get(key));
                lastUse.set(key, time);
              }
            }
            expect(cache.size).toBeLessThanOrEqual(capacity);
            // The keys touched most recently, up to half the capacity, are all still there.
            const recent = [...lastUse.entries()]
              .sort((a, b) => b[1] - a[1])
              .slice(0, Math.floor(capacity / 2));
            for (const [recentKey] of recent) expect(cache.get(recentKey)).toBe(stored.get(recentKey));
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('stores nothing with capacity 0 or 1', () => {
    const cache = new LruCache<string, number>(1);
    cache.set('a', 1);
    expect(cache.get('a')).toBeUndefined();
  });
});
