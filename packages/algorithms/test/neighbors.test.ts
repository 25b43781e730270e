import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alsNeighbors } from '../src/als';
import { boughtTogether } from '../src/bought-together';
import { easeNeighbors } from '../src/ease';
import { llrNeighbors } from '../src/llr';
import { DEFAULT_SIMILARITY_PARAMS, itemNeighbors, neighborsOf } from '../src/neighbors';
import { cosineNeighbors, jaccardNeighbors } from '../src/similarity';
import { swingNeighbors } from '../src/swing';
import type { Interactions, Neighbors, SimilarityAlgorithm } from '../src/types';
import { plainInteractionsArb, toInteractions } from './support';

/** User u holds items u, u+1, u+2 (mod numItems), each carted: every item co-occurs with four others. */
function ring(numItems: number, copies: number): Interactions {
  const numUsers = numItems * copies;
  const userPtr = new Uint32Array(numUsers + 1);
  const itemIdx = new Uint32Array(numUsers * 3);
  for (let u = 0; u < numUsers; u++) {
    const first = u % numItems;
    const items = [first, (first + 1) % numItems, (first + 2) % numItems].sort((a, b) => a - b);
    itemIdx.set(items, u * 3);
    userPtr[u + 1] = (u + 1) * 3;
  }
  const weight = new Float64Array(itemIdx.length).fill(1);
  return { numUsers, numItems, userPtr, itemIdx, weight, primary: new Uint8Array(itemIdx.length).fill(1) };
}

describe('itemNeighbors', () => {
  const x = ring(12, 2);
  const params = { ...DEFAULT_SIMILARITY_PARAMS, k: 3, factors: 4, iterations: 3 };
  const limits = { k: 3, minSupport: params.minSupport, minScore: params.minScore };
  const direct: Record<SimilarityAlgorithm, () => unknown> = {
    cosine: () => cosineNeighbors(x, limits),
    jaccard: () => jaccardNeighbors(x, limits),
    llr: () => llrNeighbors(x, limits),
    swing: () =>
      swingNeighbors(x, {
        ...limits,
        alpha1: params.alpha1,
        alpha2: params.alpha2,
        beta: params.beta,
        maxUsersPerItem: params.swingMaxUsersPerItem,
        seed: params.seed,
      }),
    als: () =>
      alsNeighbors(x, {
        ...limits,
        factors: 4,
        iterations: 3,
        regularization: params.regularization,
        alpha: params.alpha,
        seed: params.seed,
      }),
    ease: () => easeNeighbors(x, { ...limits, lambda: params.easeLambda }),
  };

  for (const algorithm of Object.keys(direct) as SimilarityAlgorithm[]) {
    it(`dispatches ${algorithm} with the matching options`, () => {
      const n = itemNeighbors(x, algorithm, params);
      expect(n).toEqual(direct[algorithm]());
      expect(n.idx.length).toBeGreaterThan(0);
    });
  }

  it('neighborsOf returns views of one item’s slice', () => {
    const n = itemNeighbors(x, 'cosine', params);
    const { idx, score } = neighborsOf(n, 5);
    expect(idx.buffer).toBe(n.idx.buffer);
    expect([...idx]).toEqual([...n.idx.slice(n.ptr[5]!, n.ptr[6]!)]);
    expect(score.length).toBe(idx.length);
    expect(() => neighborsOf(n, 12)).toThrow(RangeError);
  });
});

describe('minScore', () => {
  const algorithms: SimilarityAlgorithm[] = ['cosine', 'jaccard', 'llr', 'swing', 'als', 'ease'];
  const params = { ...DEFAULT_SIMILARITY_PARAMS, k: 10, minSupport: 1, factors: 3, iterations: 2 };
  /** Every item's (neighbour, score) pairs, in order. */
  const lists = (n: Neighbors) =>
    Array.from({ length: n.numItems }, (_, i) => {
      const { idx, score } = neighborsOf(n, i);
      return Array.from(idx, (j, p) => [j, score[p]!] as const);
    });

  for (const algorithm of algorithms) {
    it(`${algorithm}: drops only pairs scoring below it, a pair scoring exactly minScore is kept`, () => {
      fc.assert(
        fc.property(plainInteractionsArb, fc.nat(), (plain, pick) => {
          const x = toInteractions(plain);
          const all = itemNeighbors(x, algorithm, { ...params, minScore: 0 });
          if (all.score.length === 0) return;
          const minScore = all.score[pick % all.score.length]!;
          const kept = lists(itemNeighbors(x, algorithm, { ...params, minScore }));
          expect(kept).toEqual(lists(all).map((list) => list.filter(([, score]) => score >= minScore)));
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe('scale', () => {
  // 50,000 items: an items² matrix would need 20 GB, so finishing at all shows the memory is O(items + pairs).
  const numItems = 50_000;
  const x = ring(numItems, 2);
  const limits = { k: 10, minSupport: 1, minScore: 0 };
  /** Every item's neighbours are among the four items within two ring steps; all four unless `some`. */
  const expectRingNeighbors = (n: Neighbors, some = false) => {
    expect(n.numItems).toBe(numItems);
    let wrong = 0;
    for (let i = 0; i < numItems; i++) {
      const { idx } = neighborsOf(n, i);
      if (!some && idx.length !== 4) wrong++;
      for (const j of idx) {
        const distance = Math.min((j - i + numItems) % numItems, (i - j + numItems) % numItems);
        if (distance < 1 || distance > 2) wrong++;
      }
    }
    expect(wrong).toBe(0);
  };

  it('builds cosine, jaccard, llr and swing neighbours for 50,000 items', () => {
    expectRingNeighbors(cosineNeighbors(x, limits));
    expectRingNeighbors(jaccardNeighbors(x, limits));
    expectRingNeighbors(llrNeighbors(x, limits));
    expectRingNeighbors(
      swingNeighbors(x, { ...limits, alpha1: 5, alpha2: 1, beta: 0.3, maxUsersPerItem: 100, minSupport: 2 }),
    );
  });

  it('builds ALS and bought-together neighbours for 50,000 items', () => {
    // Factor cosines may be negative (and dropped), so ALS keeps some of the four.
    expectRingNeighbors(
      alsNeighbors(x, { ...limits, factors: 2, iterations: 1, regularization: 1, alpha: 1, seed: 1 }),
      true,
    );
    const users = Uint32Array.from({ length: x.numUsers }, (_, u) => u);
    expectRingNeighbors(boughtTogether({ ptr: x.userPtr, itemIdx: x.itemIdx, users }, numItems, limits));
  });
});
