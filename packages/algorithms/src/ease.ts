import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { TopKHeap } from './top-k';
import type { Interactions, Neighbors } from './types';
import { type NeighborLimits, requireFinite, requireNeighborLimits, requirePositive } from './validate';

/**
 * EASE^R holds a dense item × item matrix (8 bytes a cell) and inverts it in O(items³): 4,000 items take
 * 128 MB and tens of seconds on one core. Larger catalogs use a co-occurrence algorithm.
 */
export const EASE_MAX_ITEMS = 4000;

export interface EaseNeighborOptions extends NeighborLimits {
  /** λ, the L2 penalty added to the Gram matrix's diagonal */
  lambda: number;
}

/**
 * EASE^R (Steck, 2019): the item-item weights B minimising ‖X − XB‖² + λ‖B‖² with diag(B) = 0, in closed form
 * B_ij = −P_ij / P_jj for P = (XᵀX + λI)⁻¹, X the binary user × item matrix. A user's score of item j is
 * Σ_i x_ui B_ij, so row i of B is item i's neighbour list: its `k` largest weights not below `minScore` (and above 0),
 * ties to the lower index. `minSupport` drops pairs fewer users share, as the co-occurrence algorithms do.
 */
export function easeNeighbors(x: Interactions, opts: EaseNeighborOptions): Neighbors {
  requireNeighborLimits(opts);
  requirePositive('lambda', opts.lambda);
  requireFinite('lambda', opts.lambda, 0);
  const n = x.numItems;
  if (n > EASE_MAX_ITEMS)
    throw new RangeError(
      `EASE^R holds an item × item matrix: ${n} items is more than ${EASE_MAX_ITEMS}; use cosine or swing`,
    );
  const gram = new Float64Array(n * n);
  for (let u = 0; u < x.numUsers; u++) {
    const start = x.userPtr[u]!;
    const end = x.userPtr[u + 1]!;
    for (let p = start; p < end; p++) {
      const row = x.itemIdx[p]! * n;
      for (let q = start; q < end; q++) gram[row + x.itemIdx[q]!]! += 1;
    }
  }
  const support = gram.slice();
  const g = new Matrix(n, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) g.set(i, j, gram[i * n + j]! + (i === j ? opts.lambda : 0));
  const p = new CholeskyDecomposition(g).solve(Matrix.eye(n, n));
  const ptr = new Uint32Array(n + 1);
  const idx = new Uint32Array(n * Math.min(opts.k, Math.max(0, n - 1)));
  const score = new Float64Array(idx.length);
  const heap = new TopKHeap(Math.min(opts.k, Math.max(0, n - 1)));
  let written = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (j === i || support[i * n + j]! < opts.minSupport) continue;
      const weight = -p.get(i, j) / p.get(j, j);
      if (weight > 0 && weight >= opts.minScore) heap.push(j, weight);
    }
    written += heap.drainInto(idx, score, written);
    ptr[i + 1] = written;
  }
  return { numItems: n, ptr, idx: idx.slice(0, written), score: score.slice(0, written) };
}
