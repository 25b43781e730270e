import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { popularByCategory, topKIndices } from '../src/popularity';

/** Few distinct values so ties are common; NaN now and then. */
const scoresArb = fc.array(fc.constantFrom(0, 1, 2, 2.5, 7, -1, Number.NaN), { maxLength: 30 });

function bruteTopK(scores: number[], k: number, eligible: (i: number) => boolean): number[] {
  return scores
    .map((score, i) => ({ score, i }))
    .filter(({ score, i }) => !Number.isNaN(score) && eligible(i))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, k)
    .map(({ i }) => i);
}

describe('topKIndices', () => {
  it('matches a full sort: descending score, ties to the lower index, NaN and ineligible skipped', () => {
    fc.assert(
      fc.property(
        scoresArb,
        fc.integer({ min: 0, max: 35 }),
        fc.integer({ min: 1, max: 4 }),
        (scores, k, modulo) => {
          const eligible = (i: number) => i % modulo !== 1;
          expect([...topKIndices(Float64Array.from(scores), k, eligible)]).toEqual(
            bruteTopK(scores, k, eligible),
          );
          expect([...topKIndices(Float64Array.from(scores), k)]).toEqual(bruteTopK(scores, k, () => true));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('popularByCategory', () => {
  it('matches a per-category full sort and skips uncategorised items', () => {
    const arb = scoresArb.chain((scores) =>
      fc.tuple(
        fc.constant(scores),
        fc.array(fc.constantFrom(-1, 0, 3, 1_000_000), {
          minLength: scores.length,
          maxLength: scores.length,
        }),
        fc.integer({ min: 0, max: 5 }),
      ),
    );
    fc.assert(
      fc.property(arb, ([scores, categories, k]) => {
        const actual = popularByCategory(Float64Array.from(scores), Int32Array.from(categories), k);
        const present = [...new Set(categories.filter((c) => c >= 0))].sort((a, b) => a - b);
        expect([...actual.keys()].sort((a, b) => a - b)).toEqual(present);
        for (const category of present) {
          expect([...actual.get(category)!]).toEqual(bruteTopK(scores, k, (i) => categories[i] === category));
        }
      }),
      { numRuns: 300 },
    );
  });
});
