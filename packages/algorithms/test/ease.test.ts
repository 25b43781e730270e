import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EASE_MAX_ITEMS, easeNeighbors } from '../src/ease';
import { neighborsOf } from '../src/neighbors';
import type { Interactions } from '../src/types';

/** A binary user × item matrix in CSR form from per-user item sets. */
function interactions(rows: number[][], numItems: number): Interactions {
  const userPtr = new Uint32Array(rows.length + 1);
  const items: number[] = [];
  rows.forEach((row, u) => {
    items.push(...[...new Set(row)].sort((a, b) => a - b));
    userPtr[u + 1] = items.length;
  });
  return {
    numUsers: rows.length,
    numItems,
    userPtr,
    itemIdx: Uint32Array.from(items),
    weight: new Float64Array(items.length).fill(1),
    primary: new Uint8Array(items.length),
  };
}

/** (XᵀX + λI)⁻¹ by Gauss–Jordan elimination on plain arrays, then B_ij = −P_ij / P_jj: the textbook closed form. */
function bruteForceWeights(rows: number[][], numItems: number, lambda: number): number[][] {
  const g = Array.from({ length: numItems }, (_, i) =>
    Array.from({ length: numItems }, (_, j) => (i === j ? lambda : 0)),
  );
  for (const row of rows) {
    const set = [...new Set(row)];
    for (const i of set) for (const j of set) g[i]![j]! += 1;
  }
  const inv = g.map((_, i) => g.map((_, j) => (i === j ? 1 : 0)));
  for (let c = 0; c < numItems; c++) {
    const pivot = g[c]![c]!;
    for (let j = 0; j < numItems; j++) {
      g[c]![j]! /= pivot;
      inv[c]![j]! /= pivot;
    }
    for (let r = 0; r < numItems; r++) {
      if (r === c) continue;
      const factor = g[r]![c]!;
      for (let j = 0; j < numItems; j++) {
        g[r]![j]! -= factor * g[c]![j]!;
        inv[r]![j]! -= factor * inv[c]![j]!;
      }
    }
  }
  return inv.map((row, i) => row.map((_, j) => (i === j ? 0 : -inv[i]![j]! / inv[j]![j]!)));
}

describe('easeNeighbors', () => {
  it('keeps, per item, the k largest positive closed-form weights of pairs with enough support', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 9 }).chain((numItems) =>
          fc.record({
            numItems: fc.constant(numItems),
            rows: fc.array(fc.array(fc.integer({ min: 0, max: numItems - 1 }), { maxLength: 5 }), {
              minLength: 1,
              maxLength: 30,
            }),
            lambda: fc.double({ min: 0.5, max: 50, noNaN: true }),
            k: fc.integer({ min: 1, max: 5 }),
            minSupport: fc.integer({ min: 1, max: 2 }),
          }),
        ),
        ({ numItems, rows, lambda, k, minSupport }) => {
          const n = easeNeighbors(interactions(rows, numItems), { k, minSupport, minScore: 0, lambda });
          const b = bruteForceWeights(rows, numItems, lambda);
          const together = (i: number, j: number) =>
            rows.filter((row) => row.includes(i) && row.includes(j)).length;
          for (let i = 0; i < numItems; i++) {
            const expected = b[i]!.map((weight, j) => ({ j, weight }))
              .filter(({ j, weight }) => j !== i && weight > 0 && together(i, j) >= minSupport)
              .sort((p, q) => q.weight - p.weight || p.j - q.j)
              .slice(0, k);
            const got = neighborsOf(n, i);
            // Two inversions round differently: compare weights to 9 digits, leaving out those that round to 0
            // (one side may see 1e-17 where the other sees -1e-17).
            const visible = (weights: number[]) =>
              weights.map((w) => Number(w.toFixed(9))).filter((w) => w > 0);
            expect(visible(Array.from(got.score))).toEqual(visible(expected.map((e) => e.weight)));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses catalogs too large for its dense matrix, naming the alternative', () => {
    const x = interactions([[0]], EASE_MAX_ITEMS + 1);
    expect(() => easeNeighbors(x, { k: 5, minSupport: 1, minScore: 0, lambda: 10 })).toThrow(/use cosine/);
  });
});
