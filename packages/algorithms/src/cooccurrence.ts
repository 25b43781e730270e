import { NeighborsWriter, pairCapacities, TopKHeap, TopKHeaps } from './top-k';
import type { Interactions, Neighbors } from './types';
import { type NeighborLimits, requireNeighborLimits } from './validate';

/** The part of `Interactions` the co-occurrence pass reads: rows (users or baskets) of weighted items. */
export type WeightedRows = Pick<Interactions, 'numUsers' | 'numItems' | 'userPtr' | 'itemIdx' | 'weight'>;

/** Item → user view of the rows (CSC), users ascending within each item. */
export interface ItemUsers {
  /** length numItems + 1 */
  itemPtr: Uint32Array;
  userIdx: Uint32Array;
  /** position of each entry in the row-major arrays (for weight / primary lookups) */
  entry: Uint32Array;
}

/**
 * Transposes by counting sort: O(entries + items). Also checks the CSR invariant every pass relies on: each
 * row's items strictly ascending (so distinct) and below numItems.
 */
export function itemUsers(x: WeightedRows): ItemUsers {
  const { numUsers, numItems, userPtr, itemIdx } = x;
  const nnz = userPtr[numUsers]!;
  const itemPtr = new Uint32Array(numItems + 1);
  for (let u = 0; u < numUsers; u++) {
    let previous = -1;
    for (let q = userPtr[u]!, end = userPtr[u + 1]!; q < end; q++) {
      const j = itemIdx[q]!;
      if (j >= numItems) throw new RangeError(`item index ${j} out of range (numItems ${numItems})`);
      if (j <= previous) throw new RangeError(`row ${u} items are not strictly ascending`);
      previous = j;
      itemPtr[j + 1]!++;
    }
  }
  for (let j = 0; j < numItems; j++) itemPtr[j + 1]! += itemPtr[j]!;
  const fill = itemPtr.slice(0, numItems);
  const userIdx = new Uint32Array(nnz);
  const entry = new Uint32Array(nnz);
  for (let u = 0; u < numUsers; u++) {
    for (let q = userPtr[u]!, end = userPtr[u + 1]!; q < end; q++) {
      const pos = fill[itemIdx[q]!]!++;
      userIdx[pos] = u;
      entry[pos] = q;
    }
  }
  return { itemPtr, userIdx, entry };
}

/**
 * Scores a co-occurring (target, candidate) pair from its support (rows containing both) and the weighted dot
 * product Σ w_target·w_candidate over those rows.
 */
export type PairScore = (target: number, candidate: number, support: number, dot: number) => number;

/**
 * For every target item, accumulates support and dot product against every co-occurring item in dense
 * per-item scratch arrays with a touched list, then keeps the top K pairs by `scorePair`. Work is
 * Σ_rows |row|², the number of co-occurring entry pairs; memory is O(items + entries), never items².
 *
 * `symmetric`: the caller promises scorePair(i, j, s, d) === scorePair(j, i, s, d) bit for bit (true of cosine,
 * Jaccard, Ochiai: their formulas only multiply and add the two sides' terms, which commutes exactly). Each pair
 * is then accumulated once, from its lower item, and offered to both items' heaps: half the work for at most
 * O(items × k) more memory (each item's heap holds what its rows can offer it, `pairCapacities`). The result is
 * identical: support and dot of (i, j) sum the same products over the same users in the same (ascending) order
 * from either side.
 */
export function scoreCoOccurringPairs(
  x: WeightedRows,
  limits: NeighborLimits,
  scorePair: PairScore,
  symmetric = false,
): Neighbors {
  requireNeighborLimits(limits);
  if (symmetric) return scoreSymmetricPairs(x, limits, scorePair);
  const { numItems, userPtr, itemIdx, weight } = x;
  const { itemPtr, userIdx, entry } = itemUsers(x);
  const { k, minSupport, minScore } = limits;
  const support = new Uint32Array(numItems);
  const dot = new Float64Array(numItems);
  const touched = new Uint32Array(numItems);
  const heap = new TopKHeap(k);
  const writer = new NeighborsWriter(numItems, k);
  for (let i = 0; i < numItems; i++) {
    let touchedCount = 0;
    for (let p = itemPtr[i]!, end = itemPtr[i + 1]!; p < end; p++) {
      const u = userIdx[p]!;
      const wi = weight[entry[p]!]!;
      for (let q = userPtr[u]!, rowEnd = userPtr[u + 1]!; q < rowEnd; q++) {
        const j = itemIdx[q]!;
        if (j === i) continue;
        if (support[j] === 0) touched[touchedCount++] = j;
        support[j]!++;
        dot[j]! += wi * weight[q]!;
      }
    }
    for (let t = 0; t < touchedCount; t++) {
      const j = touched[t]!;
      const s = support[j]!;
      if (s >= minSupport) {
        const score = scorePair(i, j, s, dot[j]!);
        if (score > 0 && score >= minScore) heap.push(j, score);
      }
      support[j] = 0;
      dot[j] = 0;
    }
    writer.commit(heap);
  }
  return writer.finish();
}

function scoreSymmetricPairs(x: WeightedRows, limits: NeighborLimits, scorePair: PairScore): Neighbors {
  const { numItems, userPtr, itemIdx, weight } = x;
  const { itemPtr, userIdx, entry } = itemUsers(x);
  const { k, minSupport, minScore } = limits;
  const support = new Uint32Array(numItems);
  const dot = new Float64Array(numItems);
  const touched = new Uint32Array(numItems);
  const heaps = new TopKHeaps(pairCapacities(userPtr, itemIdx, numItems, k, minSupport));
  for (let i = 0; i < numItems; i++) {
    let touchedCount = 0;
    for (let p = itemPtr[i]!, end = itemPtr[i + 1]!; p < end; p++) {
      const u = userIdx[p]!;
      const qi = entry[p]!;
      const wi = weight[qi]!;
      // Rows hold their items ascending, so the entries after i's are exactly the partners j > i.
      for (let q = qi + 1, rowEnd = userPtr[u + 1]!; q < rowEnd; q++) {
        const j = itemIdx[q]!;
        if (support[j] === 0) touched[touchedCount++] = j;
        support[j]!++;
        dot[j]! += wi * weight[q]!;
      }
    }
    for (let t = 0; t < touchedCount; t++) {
      const j = touched[t]!;
      const s = support[j]!;
      if (s >= minSupport) {
        const score = scorePair(i, j, s, dot[j]!);
        if (score > 0 && score >= minScore) {
          heaps.push(i, j, score);
          heaps.push(j, i, score);
        }
      }
      support[j] = 0;
      dot[j] = 0;
    }
  }
  const writer = new NeighborsWriter(numItems, k);
  for (let i = 0; i < numItems; i++) writer.commitOwner(heaps, i);
  return writer.finish();
}
