import { scoreCoOccurringPairs } from './cooccurrence';
import type { Interactions, Neighbors } from './types';
import type { NeighborLimits } from './validate';

/** ‖w_i‖ of every item column. */
function columnNorms(x: Interactions): Float64Array {
  const norms = new Float64Array(x.numItems);
  const nnz = x.userPtr[x.numUsers]!;
  for (let q = 0; q < nnz; q++) norms[x.itemIdx[q]!]! += x.weight[q]! * x.weight[q]!;
  for (let j = 0; j < norms.length; j++) norms[j] = Math.sqrt(norms[j]!);
  return norms;
}

/** |U_i| of every item. */
function columnDegrees(x: Interactions): Uint32Array {
  const degrees = new Uint32Array(x.numItems);
  const nnz = x.userPtr[x.numUsers]!;
  for (let q = 0; q < nnz; q++) degrees[x.itemIdx[q]!]!++;
  return degrees;
}

/** Cosine of the weighted item columns: Σ_u w_ui·w_uj / (‖w_i‖·‖w_j‖). Support = co-occurring users. */
export function cosineNeighbors(x: Interactions, opts: NeighborLimits): Neighbors {
  const norms = columnNorms(x);
  return scoreCoOccurringPairs(x, opts, (i, j, _support, dot) => dot / (norms[i]! * norms[j]!), true);
}

/** Binary Jaccard of the item user sets: |U_i ∩ U_j| / |U_i ∪ U_j|. Support = |U_i ∩ U_j|. */
export function jaccardNeighbors(x: Interactions, opts: NeighborLimits): Neighbors {
  const degrees = columnDegrees(x);
  return scoreCoOccurringPairs(
    x,
    opts,
    (i, j, support) => support / (degrees[i]! + degrees[j]! - support),
    true,
  );
}
