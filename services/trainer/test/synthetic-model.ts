import type { ModelToPublish } from '@elevens/redis-stores';

/** A model whose size tells its version apart: `numItems` items, each with `k` neighbours. */
export function syntheticModel(version: string, numItems: number, k: number): ModelToPublish {
  const ptr = new Uint32Array(numItems + 1);
  const idx = new Uint32Array(numItems * k);
  const score = new Float64Array(numItems * k);
  for (let i = 0; i < numItems; i++) {
    ptr[i + 1] = (i + 1) * k;
    for (let n = 0; n < k; n++) {
      idx[i * k + n] = (i + n + 1) % numItems;
      score[i * k + n] = 1 / (n + 1);
    }
  }
  const empty = { ptr: new Uint32Array(numItems + 1), idx: new Uint32Array(0), score: new Float64Array(0) };
  return {
    version,
    algorithm: 'cosine',
    builtAtMs: Date.now(),
    itemIds: Array.from({ length: numItems }, (_, i) => `item-${i}`),
    itemCategories: Array.from({ length: numItems }, () => ''),
    neighbors: { ptr, idx, score },
    boughtTogether: empty,
    popular: { idx: [0, 1], score: [2, 1] },
    trending: { idx: [], score: [] },
    popularByCategory: new Map(),
  };
}
