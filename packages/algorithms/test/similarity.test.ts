import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cosineNeighbors, jaccardNeighbors } from '../src/similarity';
import {
  expectSameNeighbors,
  limitsArb,
  type PlainInteractions,
  plainInteractionsArb,
  toInteractions,
} from './support';

interface Limits {
  k: number;
  minSupport: number;
  minScore: number;
}

function usersOf(plain: PlainInteractions, item: number): number[] {
  const users: number[] = [];
  plain.users.forEach((entries, u) => {
    if (entries.has(item)) users.push(u);
  });
  return users;
}

function keep(score: number, support: number, limits: Limits): boolean {
  return support >= limits.minSupport && score > 0 && score >= limits.minScore;
}

function bruteCosine(plain: PlainInteractions, limits: Limits): Map<number, number>[] {
  const norm = (item: number) =>
    Math.sqrt(usersOf(plain, item).reduce((s, u) => s + plain.users[u]!.get(item)!.weight ** 2, 0));
  const result: Map<number, number>[] = [];
  for (let i = 0; i < plain.numItems; i++) {
    const candidates = new Map<number, number>();
    for (let j = 0; j < plain.numItems; j++) {
      if (j === i) continue;
      let support = 0;
      let dot = 0;
      for (const entries of plain.users) {
        const a = entries.get(i);
        const b = entries.get(j);
        if (a && b) {
          support++;
          dot += a.weight * b.weight;
        }
      }
      if (support === 0) continue;
      const score = dot / (norm(i) * norm(j));
      if (keep(score, support, limits)) candidates.set(j, score);
    }
    result.push(candidates);
  }
  return result;
}

function bruteJaccard(plain: PlainInteractions, limits: Limits): Map<number, number>[] {
  const result: Map<number, number>[] = [];
  for (let i = 0; i < plain.numItems; i++) {
    const candidates = new Map<number, number>();
    const ui = new Set(usersOf(plain, i));
    for (let j = 0; j < plain.numItems; j++) {
      if (j === i) continue;
      const uj = new Set(usersOf(plain, j));
      const both = [...ui].filter((u) => uj.has(u)).length;
      if (both === 0) continue;
      const union = new Set([...ui, ...uj]).size;
      const score = both / union;
      if (keep(score, both, limits)) candidates.set(j, score);
    }
    result.push(candidates);
  }
  return result;
}

describe('cosineNeighbors', () => {
  it('matches brute-force cosine of the weighted item columns', () => {
    fc.assert(
      fc.property(plainInteractionsArb, limitsArb, (plain, limits) => {
        expectSameNeighbors(
          cosineNeighbors(toInteractions(plain), limits),
          bruteCosine(plain, limits),
          limits.k,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('scores identical columns 1 and orders by score then lower index', () => {
    const plain: PlainInteractions = {
      numItems: 4,
      users: [
        new Map([
          [0, { item: 0, weight: 1, primary: false }],
          [1, { item: 1, weight: 1, primary: false }],
          [2, { item: 2, weight: 2, primary: false }],
          [3, { item: 3, weight: 1, primary: false }],
        ]),
        new Map([
          [0, { item: 0, weight: 1, primary: false }],
          [3, { item: 3, weight: 1, primary: false }],
        ]),
      ],
    };
    const n = cosineNeighbors(toInteractions(plain), { k: 3, minSupport: 1, minScore: 0 });
    expect([...n.idx.subarray(n.ptr[0]!, n.ptr[1]!)]).toEqual([3, 1, 2]);
    expect(n.score[n.ptr[0]!]).toBeCloseTo(1, 12);
  });
});

describe('jaccardNeighbors', () => {
  it('matches brute-force |U_i ∩ U_j| / |U_i ∪ U_j|', () => {
    fc.assert(
      fc.property(plainInteractionsArb, limitsArb, (plain, limits) => {
        expectSameNeighbors(
          jaccardNeighbors(toInteractions(plain), limits),
          bruteJaccard(plain, limits),
          limits.k,
        );
      }),
      { numRuns: 300 },
    );
  });
});
