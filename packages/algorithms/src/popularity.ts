import { TopKHeap } from './top-k';
import { requireInteger } from './validate';

/**
 * Indices of the k highest scores, descending, ties to the lower index. NaN scores and items rejected by
 * `eligible` are skipped. O(n log k).
 */
export function topKIndices(scores: Float64Array, k: number, eligible?: (i: number) => boolean): Uint32Array {
  requireInteger('k', k, 0);
  const heap = new TopKHeap(Math.min(k, scores.length));
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i]!;
    if (Number.isNaN(score) || (eligible !== undefined && !eligible(i))) continue;
    heap.push(i, score);
  }
  const indices = new Uint32Array(heap.size);
  heap.drainInto(indices, new Float64Array(heap.size), 0);
  return indices;
}

/**
 * The k highest-scoring items of each category (descending, ties to the lower index); items with category
 * -1 are skipped. Items are bucketed by a counting sort, so the cost is O(n log k) whatever the number of
 * categories.
 */
export function popularByCategory(
  scores: Float64Array,
  itemCategory: Int32Array,
  k: number,
): Map<number, Uint32Array> {
  requireInteger('k', k, 0);
  if (itemCategory.length !== scores.length) {
    throw new RangeError('itemCategory and scores must have the same length');
  }
  const slotOf = new Map<number, number>();
  const categories: number[] = [];
  const itemSlot = new Int32Array(scores.length).fill(-1);
  for (let i = 0; i < scores.length; i++) {
    const category = itemCategory[i]!;
    if (category < 0) continue;
    let slot = slotOf.get(category);
    if (slot === undefined) {
      slot = categories.length;
      slotOf.set(category, slot);
      categories.push(category);
    }
    itemSlot[i] = slot;
  }
  const slotStart = new Uint32Array(categories.length + 1);
  for (let i = 0; i < scores.length; i++) if (itemSlot[i]! >= 0) slotStart[itemSlot[i]! + 1]!++;
  for (let s = 0; s < categories.length; s++) slotStart[s + 1]! += slotStart[s]!;
  const fill = slotStart.slice(0, categories.length);
  const members = new Uint32Array(slotStart[categories.length]!);
  for (let i = 0; i < scores.length; i++) if (itemSlot[i]! >= 0) members[fill[itemSlot[i]!]!++] = i;

  const result = new Map<number, Uint32Array>();
  for (let s = 0; s < categories.length; s++) {
    const from = slotStart[s]!;
    const to = slotStart[s + 1]!;
    const heap = new TopKHeap(Math.min(k, to - from));
    for (let p = from; p < to; p++) {
      const i = members[p]!;
      const score = scores[i]!;
      if (!Number.isNaN(score)) heap.push(i, score);
    }
    const top = new Uint32Array(heap.size);
    heap.drainInto(top, new Float64Array(heap.size), 0);
    result.set(categories[s]!, top);
  }
  return result;
}
