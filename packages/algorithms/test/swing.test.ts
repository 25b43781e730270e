import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededHash } from '../src/sampling';
import { swingNeighbors } from '../src/swing';
import {
  expectSameNeighbors,
  limitsArb,
  type PlainInteractions,
  plainInteractionsArb,
  toInteractions,
} from './support';

interface SwingParams {
  k: number;
  minSupport: number;
  minScore: number;
  alpha1: number;
  alpha2: number;
  beta: number;
  maxUsersPerItem: number;
  seed: number;
}

function bruteSwing(plain: PlainInteractions, params: SwingParams): Map<number, number>[] {
  const itemsOf = (u: number) => new Set(plain.users[u]!.keys());
  const userWeight = (u: number) => (itemsOf(u).size + params.alpha1) ** -params.beta;
  const result: Map<number, number>[] = [];
  for (let i = 0; i < plain.numItems; i++) {
    // Participants: the maxUsersPerItem users of i with the smallest seeded hash (ties: lower user).
    const participants = plain.users
      .map((entries, u) => ({ u, has: entries.has(i), hash: seededHash(params.seed, i, u) }))
      .filter((e) => e.has)
      .sort((a, b) => a.hash - b.hash || a.u - b.u)
      .slice(0, params.maxUsersPerItem)
      .map((e) => e.u)
      .sort((a, b) => a - b);
    const candidates = new Map<number, number>();
    for (let j = 0; j < plain.numItems; j++) {
      if (j === i) continue;
      const common = participants.filter((u) => plain.users[u]!.has(j));
      let score = 0;
      for (let a = 0; a < common.length; a++) {
        for (let b = a + 1; b < common.length; b++) {
          const u = common[a]!;
          const v = common[b]!;
          const overlap = [...itemsOf(u)].filter((item) => itemsOf(v).has(item)).length;
          score += (userWeight(u) * userWeight(v)) / (params.alpha2 + overlap);
        }
      }
      if (common.length >= params.minSupport && score > 0 && score >= params.minScore)
        candidates.set(j, score);
    }
    result.push(candidates);
  }
  return result;
}

const swingParamsArb = fc
  .record({
    limits: limitsArb,
    alpha1: fc.constantFrom(0.5, 1, 5),
    alpha2: fc.constantFrom(0, 0.5, 1),
    beta: fc.constantFrom(0, 0.3, 1),
    maxUsersPerItem: fc.constantFrom(2, 3, 100),
    seed: fc.integer({ min: 0, max: 1000 }),
  })
  .map(({ limits, ...rest }): SwingParams => ({ ...limits, ...rest }));

describe('swingNeighbors', () => {
  it('matches brute-force swing over user pairs, including the sampled user-pair cap', () => {
    fc.assert(
      fc.property(plainInteractionsArb, swingParamsArb, (plain, params) => {
        expectSameNeighbors(
          swingNeighbors(toInteractions(plain), params),
          bruteSwing(plain, params),
          params.k,
        );
      }),
      { numRuns: 400 },
    );
  });

  it('weights a pair of focused users above a pair of heavy users sharing many items', () => {
    // Users 0,1 share only items 0 and 1; users 2,3 share items 0, 2 and 3..9.
    const entry = (item: number) => [item, { item, weight: 1, primary: false }] as const;
    const users = [
      new Map([entry(0), entry(1)]),
      new Map([entry(0), entry(1)]),
      new Map([entry(0), entry(2), ...[3, 4, 5, 6, 7, 8, 9].map(entry)]),
      new Map([entry(0), entry(2), ...[3, 4, 5, 6, 7, 8, 9].map(entry)]),
    ];
    const n = swingNeighbors(toInteractions({ numItems: 10, users }), {
      k: 2,
      minSupport: 2,
      minScore: 0,
      alpha1: 5,
      alpha2: 1,
      beta: 0.3,
      maxUsersPerItem: 100,
    });
    expect(n.idx[n.ptr[0]!]).toBe(1);
  });

  it('rejects a user-pair cap below 2', () => {
    const x = toInteractions({ numItems: 1, users: [] });
    expect(() =>
      swingNeighbors(x, {
        k: 1,
        minSupport: 1,
        minScore: 0,
        alpha1: 5,
        alpha2: 1,
        beta: 0.3,
        maxUsersPerItem: 1,
      }),
    ).toThrow(RangeError);
  });
});
