/**
 * Top-K ranking metrics for one ranked list. Ids may be strings or dense numeric indexes; a ranked list is
 * any array-like (a plain array or a Uint32Array of item indexes), best item first.
 */
export type RankedList<T> = ArrayLike<T>;

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
}

/** 0-based position of target within the first k entries, or -1 when it is not there. */
export function rankOf<T>(ranked: RankedList<T>, target: T, k: number): number {
  checkK(k);
  const limit = Math.min(k, ranked.length);
  for (let i = 0; i < limit; i++) if (ranked[i] === target) return i;
  return -1;
}

/** 1 when the held-out target is in the top k, else 0. */
export function hitRateAtK<T>(ranked: RankedList<T>, target: T, k: number): number {
  return rankOf(ranked, target, k) >= 0 ? 1 : 0;
}

/** Binary relevance with one relevant item: 1 / log2(rank + 2) for 0-based rank; the ideal DCG is 1. */
export function ndcgAtK<T>(ranked: RankedList<T>, target: T, k: number): number {
  const rank = rankOf(ranked, target, k);
  return rank >= 0 ? 1 / Math.log2(rank + 2) : 0;
}

/** Reciprocal rank 1 / (rank + 1) of the target within the top k, 0 when absent. */
export function mrrAtK<T>(ranked: RankedList<T>, target: T, k: number): number {
  const rank = rankOf(ranked, target, k);
  return rank >= 0 ? 1 / (rank + 1) : 0;
}

/** |top-k ∩ relevant| / |relevant| (repeated ids in the list count once); 0 when nothing is relevant. */
export function recallAtK<T>(ranked: RankedList<T>, relevant: ReadonlySet<T>, k: number): number {
  checkK(k);
  if (relevant.size === 0) return 0;
  const limit = Math.min(k, ranked.length);
  const found = new Set<T>();
  for (let i = 0; i < limit; i++) {
    const id = ranked[i]!;
    if (relevant.has(id)) found.add(id);
  }
  return found.size / relevant.size;
}

/** Distinct ids over the top k of all lists, divided by the catalog size (0 for an empty catalog). */
export function catalogCoverage<T>(lists: Iterable<RankedList<T>>, catalogSize: number, k: number): number {
  checkK(k);
  if (catalogSize <= 0) return 0;
  const distinct = new Set<T>();
  for (const list of lists) {
    const limit = Math.min(k, list.length);
    for (let i = 0; i < limit; i++) distinct.add(list[i]!);
  }
  return distinct.size / catalogSize;
}
