import { scoreCoOccurringPairs } from './cooccurrence';
import type { Interactions, Neighbors } from './types';
import type { NeighborLimits } from './validate';

/** Per-item Σ over entries of f(weight), indexed by item. */
function columnSums(x: Interactions, squared: boolean): Float64Array {
  const sums = new Float64Array(x.numItems);
  const nnz = x.userPtr[x.numUsers]!;
  for (let q = 0; q < nnz; q++) {
    const w = x.weight[q]!;
    sums[x.itemIdx[q]!]! += squared ? w * w : 1;
  }
  return sums;
}

/** Cosine of the weighted item columns: Σ_u w_ui·w_uj / (‖w_i‖·‖w_j‖). Support = co-occurring users. */
export function cosineNeighbors(x: Interactions, opts: NeighborLimits): Neighbors {
  const norms = columnSums(x, true);
  for (let j = 0; j < norms.length; j++) norms[j] = Math.sqrt(norms[j]!);
  return scoreCoOccurringPairs(x, opts, (i, j, _support, dot) => dot / (norms[i]! * norms[j]!));
}

/** Binary Jaccard of the item user sets: |U_i ∩ U_j| / |U_i ∪ U_j|. */
export function jaccardNeighbors(x: Interactions, opts: NeighborLimits): Neighbors {
  const degree = columnSums(x, false);
  return scoreCoOccurringPairs(x, opts, (i, j, support) => support / (degree[i]! + degree[j]! - support));
}
