import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trendingScores } from '../src/trending';
import { close } from './support';

describe('trendingScores', () => {
  it('is (recent + prior) / (baseline scaled to the recent window + prior), 0 below minRecent', () => {
    const countsArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 200 })), {
      maxLength: 20,
    });
    const optsArb = fc.record({
      recentHours: fc.constantFrom(1, 6, 24),
      extraBaselineHours: fc.constantFrom(1, 24, 144),
      minRecent: fc.constantFrom(0, 1, 3),
      prior: fc.constantFrom(0.5, 1, 5),
    });
    fc.assert(
      fc.property(countsArb, optsArb, (counts, { extraBaselineHours, ...rest }) => {
        const opts = { ...rest, baselineHours: rest.recentHours + extraBaselineHours };
        const scores = trendingScores(
          Float64Array.from(counts.map(([r]) => r)),
          Float64Array.from(counts.map(([, b]) => b)),
          opts,
        );
        counts.forEach(([recent, baseline], i) => {
          const recentRate = recent / opts.recentHours;
          const baselineRate = baseline / (opts.baselineHours - opts.recentHours);
          const priorRate = opts.prior / opts.recentHours;
          const expected =
            recent < opts.minRecent ? 0 : (recentRate + priorRate) / (baselineRate + priorRate);
          expect(close(scores[i]!, expected)).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('ranks a steady climb from real volume above a first event from nothing', () => {
    const scores = trendingScores(Float64Array.from([1, 300]), Float64Array.from([0, 100]), {
      recentHours: 24,
      baselineHours: 48,
      minRecent: 1,
      prior: 5,
    });
    expect(scores[1]!).toBeGreaterThan(scores[0]!);
  });

  it('rejects a baseline window that does not extend past the recent one', () => {
    const none = new Float64Array(0);
    expect(() =>
      trendingScores(none, none, { recentHours: 24, baselineHours: 24, minRecent: 0, prior: 1 }),
    ).toThrow(RangeError);
  });
});
