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

/** Columns whose largest weight lies within [2^-400, 2^400] square and multiply in range (as do their sums). */
const SAFE_EXPONENT = 400;

/**
 * The weights, each item column scaled by a power of two that brings its largest weight into [1, 2), when some
 * column's largest weight lies outside the safe range; else `x` itself. Decayed weights can be tiny: with a
 * 12-hour half-life a 300-day-old event weighs 2^-600, whose square underflows to 0, and a column norm of 0 over
 * a positive dot product scored Infinity. Cosine is the same for a column scaled by any factor, and a power of two
 * scales exactly, so scores in range come out bit for bit as they do unscaled.
 */
function rangeSafe(x: Interactions): Interactions {
  const largest = new Float64Array(x.numItems);
  const nnz = x.userPtr[x.numUsers]!;
  for (let q = 0; q < nnz; q++) {
    const item = x.itemIdx[q]!;
    if (x.weight[q]! > largest[item]!) largest[item] = x.weight[q]!;
  }
  const exponents = new Int32Array(x.numItems);
  let outOfRange = false;
  for (let j = 0; j < x.numItems; j++) {
    if (largest[j] === 0) continue;
    exponents[j] = Math.floor(Math.log2(largest[j]!));
    if (Math.abs(exponents[j]!) > SAFE_EXPONENT) outOfRange = true;
  }
  if (!outOfRange) return x;
  // 2^-e in two factors: one would overflow for the smallest subnormal weights (e down to -1074).
  const firstFactor = Float64Array.from(exponents, (e) => 2 ** -Math.trunc(e / 2));
  const secondFactor = Float64Array.from(exponents, (e) => 2 ** -(e - Math.trunc(e / 2)));
  const weight = new Float64Array(nnz);
  for (let q = 0; q < nnz; q++) {
    const item = x.itemIdx[q]!;
    weight[q] = x.weight[q]! * firstFactor[item]! * secondFactor[item]!;
  }
  return { ...x, weight };
}

/** Cosine of the weighted item columns: Σ_u w_ui·w_uj / (‖w_i‖·‖w_j‖). Support = co-occurring users. */
export function cosineNeighbors(x: Interactions, opts: NeighborLimits): Neighbors {
  const columns = rangeSafe(x);
  const norms = columnNorms(columns);
  return scoreCoOccurringPairs(columns, opts, (i, j, _support, dot) => dot / (norms[i]! * norms[j]!), true);
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
