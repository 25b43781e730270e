import { scoreCoOccurringPairs } from './cooccurrence';
import type { Baskets } from './interactions';
import type { Neighbors } from './types';
import { requireInteger } from './validate';

export interface BoughtTogetherOptions {
  k: number;
  /** minimum number of baskets holding both items */
  minSupport: number;
}

/**
 * Items bought together: score(i, j) = c_ij / sqrt(n_i · n_j), with c_ij the baskets holding both and n_i the
 * baskets holding i (the Ochiai / binary cosine coefficient). Raw counts would rank bestsellers next to every
 * item; c_ij / n_i is asymmetric and still favours popular j. Dividing by the geometric mean discounts both
 * sides' popularity, and so rewards rarity too: with `minSupport` 1, an item bought once, with i, scores
 * 1 / sqrt(n_i), ahead of a complement in 10 of its 200 baskets with i (0.71 / sqrt(n_i)); the build's default of
 * 2 (BUILD_BOUGHT_TOGETHER_MIN_SUPPORT, docs/model.md) keeps such one-off pairs out.
 */
export function boughtTogether(baskets: Baskets, numItems: number, opts: BoughtTogetherOptions): Neighbors {
  requireInteger('k', opts.k, 0);
  requireInteger('minSupport', opts.minSupport, 1);
  const nnz = baskets.itemIdx.length;
  const basketCount = new Float64Array(numItems);
  for (let q = 0; q < nnz; q++) {
    const j = baskets.itemIdx[q]!;
    if (j >= numItems) throw new RangeError(`item index ${j} out of range (numItems ${numItems})`);
    basketCount[j]!++;
  }
  const rows = {
    numUsers: baskets.ptr.length - 1,
    numItems,
    userPtr: baskets.ptr,
    itemIdx: baskets.itemIdx,
    weight: new Float64Array(nnz).fill(1),
  };
  return scoreCoOccurringPairs(
    rows,
    { k: opts.k, minSupport: opts.minSupport, minScore: 0 },
    (i, j, support) => support / Math.sqrt(basketCount[i]! * basketCount[j]!),
    true,
  );
}
