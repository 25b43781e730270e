/**
 * Deterministic seeded sampling. Each (seed, salt, id) gets a 32-bit hash and a sample keeps the ids with the
 * smallest hashes, so the result depends only on the seed and the id set, never on input order.
 */

function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit hash of (seed, salt, id), used to rank ids for sampling; only the low 32 bits of each input count. */
export function seededHash(seed: number, salt: number, id: number): number {
  return mix32(mix32(mix32(seed ^ 0x9e3779b9) ^ salt) ^ id);
}

/**
 * Positions (ascending) of the `count` ids with the smallest `seededHash(seed, salt, id)`; equal hashes go to
 * the earlier position. `ids[from..to)` is the candidate range; positions are absolute.
 */
export function seededSamplePositions(
  ids: Uint32Array,
  from: number,
  to: number,
  count: number,
  seed: number,
  salt: number,
): Uint32Array {
  const size = to - from;
  if (count >= size) {
    const all = new Uint32Array(size);
    for (let p = 0; p < size; p++) all[p] = from + p;
    return all;
  }
  const hashes = new Uint32Array(size);
  for (let p = 0; p < size; p++) hashes[p] = seededHash(seed, salt, ids[from + p]!);
  const sorted = hashes.slice().sort();
  const threshold = sorted[count - 1]!;
  let below = 0;
  while (below < count && sorted[below]! < threshold) below++;
  let tiesAllowed = count - below;
  const kept = new Uint32Array(count);
  let n = 0;
  for (let p = 0; p < size; p++) {
    const h = hashes[p]!;
    if (h < threshold || (h === threshold && tiesAllowed-- > 0)) kept[n++] = from + p;
  }
  return kept;
}

/** Seeded uniform [0, 1) generator (mulberry32): small, fast and reproducible across runs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
