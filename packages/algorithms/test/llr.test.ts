import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { llrNeighbors, logLikelihoodRatio } from '../src/llr';
import {
  expectSameNeighbors,
  limitsArb,
  type PlainInteractions,
  plainInteractionsArb,
  toInteractions,
} from './support';

/** G² = 2 Σ O·ln(O/E) over the four cells: the textbook form, independent of the entropy form under test. */
function gSquared(k11: number, k12: number, k21: number, k22: number): number {
  const n = k11 + k12 + k21 + k22;
  const cells = [
    [k11, k11 + k12, k11 + k21],
    [k12, k11 + k12, k12 + k22],
    [k21, k21 + k22, k11 + k21],
    [k22, k21 + k22, k12 + k22],
  ];
  let sum = 0;
  for (const [observed, row, column] of cells) {
    if (observed! > 0) sum += observed! * Math.log((observed! * n) / (row! * column!));
  }
  return 2 * sum;
}

/** LLR of two user sets among all users, 0 unless they overlap more than independence predicts. */
function bruteLlrTerm(a: Set<number>, b: Set<number>, numUsers: number): number {
  let k11 = 0;
  let k12 = 0;
  let k21 = 0;
  let k22 = 0;
  for (let u = 0; u < numUsers; u++) {
    if (a.has(u) && b.has(u)) k11++;
    else if (a.has(u)) k12++;
    else if (b.has(u)) k21++;
    else k22++;
  }
  return k11 * k22 > k12 * k21 ? gSquared(k11, k12, k21, k22) : 0;
}

function bruteLlr(
  plain: PlainInteractions,
  limits: { k: number; minSupport: number; minScore: number },
): Map<number, number>[] {
  const numUsers = plain.users.length;
  const primaryUsers = (item: number) =>
    new Set(plain.users.flatMap((entries, u) => (entries.get(item)?.primary ? [u] : [])));
  const anyUsers = (item: number) =>
    new Set(plain.users.flatMap((entries, u) => (entries.has(item) ? [u] : [])));
  const result: Map<number, number>[] = [];
  for (let h = 0; h < plain.numItems; h++) {
    const candidates = new Map<number, number>();
    for (let i = 0; i < plain.numItems; i++) {
      if (i === h) continue;
      const ai = primaryUsers(i);
      const support = [...ai].filter((u) => anyUsers(h).has(u)).length;
      if (support === 0 || support < limits.minSupport) continue;
      const score = bruteLlrTerm(ai, primaryUsers(h), numUsers) + bruteLlrTerm(ai, anyUsers(h), numUsers);
      if (score > 0 && score >= limits.minScore) candidates.set(i, score);
    }
    result.push(candidates);
  }
  return result;
}

describe('logLikelihoodRatio', () => {
  it("reproduces Mahout's LogLikelihoodTest values", () => {
    expect(logLikelihoodRatio(1, 0, 0, 1)).toBeCloseTo(2.772589, 6);
    expect(logLikelihoodRatio(10, 0, 0, 10)).toBeCloseTo(27.72589, 5);
    expect(logLikelihoodRatio(5, 1995, 0, 100000)).toBeCloseTo(39.33052, 5);
    expect(logLikelihoodRatio(1000, 1995, 1000, 100000)).toBeCloseTo(4730.737, 3);
    expect(logLikelihoodRatio(1000, 1000, 1000, 100000)).toBeCloseTo(5734.343, 3);
    expect(logLikelihoodRatio(1000, 1000, 1000, 99000)).toBeCloseTo(5714.932, 3);
  });

  it('equals the textbook G² on random tables', () => {
    const count = fc.integer({ min: 0, max: 10_000 });
    fc.assert(
      fc.property(count, count, count, count, (k11, k12, k21, k22) => {
        expect(Math.abs(logLikelihoodRatio(k11, k12, k21, k22) - gSquared(k11, k12, k21, k22))).toBeLessThan(
          1e-6,
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('llrNeighbors', () => {
  it('matches brute-force LLR(A_i, A_h) + LLR(A_i, B_h) cross-occurrence', () => {
    fc.assert(
      fc.property(plainInteractionsArb, limitsArb, (plain, limits) => {
        expectSameNeighbors(llrNeighbors(toInteractions(plain), limits), bruteLlr(plain, limits), limits.k);
      }),
      { numRuns: 300 },
    );
  });

  it('ignores a bestseller that co-occurs less often than chance', () => {
    // 10 users: bestseller 1 bought by users 0..7, item 2 bought by user 8 and 9; history item 0 viewed by 8, 9 and 0.
    const users = Array.from(
      { length: 10 },
      () => new Map<number, { item: number; weight: number; primary: boolean }>(),
    );
    for (let u = 0; u < 8; u++) users[u]!.set(1, { item: 1, weight: 5, primary: true });
    for (const u of [8, 9]) users[u]!.set(2, { item: 2, weight: 5, primary: true });
    for (const u of [0, 8, 9]) users[u]!.set(0, { item: 0, weight: 1, primary: false });
    const n = llrNeighbors(toInteractions({ numItems: 3, users }), { k: 5, minSupport: 1, minScore: 0 });
    expect([...n.idx.subarray(n.ptr[0]!, n.ptr[1]!)]).toEqual([2]);
  });
});
