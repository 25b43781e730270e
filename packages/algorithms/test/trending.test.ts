import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trendingScores } from '../src/trending';
import { close } from './support';

describe('trendingScores', () => {
  it('is (recent + prior) / (baseline scaled to the recent window + prior), 0 below minRecent', () => {
    const countsArb = fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 4 }),
      ),
      { maxLength: 20 },
    );
    const optsArb = fc.record({
      recentHours: fc.constantFrom(1, 6, 24),
      extraBaselineHours: fc.constantFrom(1, 24, 144),
      minRecent: fc.constantFrom(0, 1, 3),
      minRecentUsers: fc.constantFrom(0, 1, 2),
      prior: fc.constantFrom(0.5, 1, 5),
    });
    fc.assert(
      fc.property(countsArb, optsArb, (counts, { extraBaselineHours, ...rest }) => {
        const opts = { ...rest, baselineHours: rest.recentHours + extraBaselineHours };
        const scores = trendingScores(
          Float64Array.from(counts.map(([r]) => r)),
          Float64Array.from(counts.map(([, b]) => b)),
          Uint32Array.from(counts.map(([, , u]) => u)),
          opts,
        );
        counts.forEach(([recent, baseline, users], i) => {
          const recentRate = recent / opts.recentHours;
          const baselineRate = baseline / (opts.baselineHours - opts.recentHours);
          const priorRate = opts.prior / opts.recentHours;
          const expected =
            recent < opts.minRecent || users < opts.minRecentUsers
              ? 0
              : (recentRate + priorRate) / (baselineRate + priorRate);
          expect(close(scores[i]!, expected)).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('ranks a steady climb from real volume above a first event from nothing', () => {
    const scores = trendingScores(
      Float64Array.from([1, 300]),
      Float64Array.from([0, 100]),
      Uint32Array.from([1, 120]),
      { recentHours: 24, baselineHours: 48, minRecent: 1, minRecentUsers: 1, prior: 5 },
    );
    expect(scores[1]!).toBeGreaterThan(scores[0]!);
  });

  it('scores 0 an item fewer than minRecentUsers engaged with, however heavily', () => {
    const scores = trendingScores(
      Float64Array.from([5, 5]),
      Float64Array.from([0, 0]),
      Uint32Array.from([1, 2]),
      { recentHours: 3, baselineHours: 72, minRecent: 2, minRecentUsers: 2, prior: 5 },
    );
    expect(scores[0]).toBe(0);
    expect(scores[1]).toBe(2);
  });

  it('rejects a baseline window that does not extend past the recent one', () => {
    const none = new Float64Array(0);
    const opts = { recentHours: 24, baselineHours: 24, minRecent: 0, minRecentUsers: 0, prior: 1 };
    expect(() => trendingScores(none, none, new Uint32Array(0), opts)).toThrow(RangeError);
  });
});
