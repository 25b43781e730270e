import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TYPE_WEIGHTS, InteractionsBuilder } from '../src/interactions';
import { itemNeighbors, neighborsOf } from '../src/neighbors';
import { cosineNeighbors } from '../src/similarity';
import { eventTypeCode } from '../src/types';
import { limitsArb, type PlainInteractions, plainInteractionsArb, toInteractions } from './support';

const DAY = 86_400_000;
const REFERENCE = Date.UTC(2026, 10, 11, 12);
const VIEW = eventTypeCode('view');

describe('cosine on decayed weights far from 1', () => {
  it('scores a pair of an old and a fresh item in [0, 1], not Infinity, under a short half-life', () => {
    // A 12-hour half-life in a year's window: a 300-day-old view weighs 2^-600, whose square underflows to 0.
    const builder = new InteractionsBuilder({
      typeWeights: { ...DEFAULT_TYPE_WEIGHTS },
      halfLifeDays: 0.5,
      referenceTimeMs: REFERENCE,
      maxItemsPerUser: 500,
      maxUsersPerItem: 1000,
      seed: 42,
      trendingRecentHours: 3,
      trendingBaselineHours: 72,
    });
    const [old, fresh, alsoFresh] = [0, 1, 2];
    for (const user of [0, 1]) {
      builder.add(user, old, VIEW, REFERENCE - 300 * DAY);
      builder.add(user, fresh, VIEW, REFERENCE);
    }
    builder.add(0, alsoFresh, VIEW, REFERENCE);
    builder.add(1, alsoFresh, VIEW, REFERENCE - DAY);
    const { interactions } = builder.build(2, 3);
    const neighbors = itemNeighbors(interactions, 'cosine', {
      ...{ k: 5, minSupport: 2, minScore: 0 },
      alpha1: 5,
      alpha2: 1,
      beta: 0.3,
      swingMaxUsersPerItem: 500,
      factors: 8,
      iterations: 2,
      regularization: 0.05,
      alpha: 10,
      seed: 42,
      easeLambda: 500,
    });
    for (const score of neighbors.score) expect(score).toBeGreaterThan(0);
    for (const score of neighbors.score) expect(score).toBeLessThanOrEqual(1 + 1e-12);
    // Old's column is proportional to fresh's (both users alike): cosine 1, tied with nothing above it.
    const ofFresh = neighborsOf(neighbors, fresh);
    expect([...ofFresh.idx]).toEqual([old, alsoFresh]);
    expect(ofFresh.score[0]).toBeCloseTo(1, 12);
    expect(ofFresh.score[1]).toBeCloseTo((1 + 0.25) / Math.sqrt(2) / Math.sqrt(1 + 0.0625), 12);
  });

  it('gives every column scaled by any power of two the scores of the unscaled columns', () => {
    fc.assert(
      fc.property(
        plainInteractionsArb,
        limitsArb,
        fc.array(fc.integer({ min: -1070, max: 1000 }), { minLength: 7, maxLength: 7 }),
        (plain, limits, exponents) => {
          const scaled: PlainInteractions = {
            numItems: plain.numItems,
            users: plain.users.map(
              (entries) =>
                new Map(
                  [...entries].map(([item, entry]) => [
                    item,
                    { ...entry, weight: entry.weight * 2 ** exponents[item]! },
                  ]),
                ),
            ),
          };
          // Powers of two keep the weights exact, down to the subnormal range.
          const expected = cosineNeighbors(toInteractions(plain), limits);
          const actual = cosineNeighbors(toInteractions(scaled), limits);
          expect([...actual.ptr]).toEqual([...expected.ptr]);
          expect([...actual.idx]).toEqual([...expected.idx]);
          actual.score.forEach((score, p) => {
            expect(Math.abs(score - expected.score[p]!)).toBeLessThanOrEqual(1e-12);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
