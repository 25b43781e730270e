import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { itemUsers, scoreCoOccurringPairs } from './cooccurrence';
import { seededRandom } from './sampling';
import type { Interactions, Neighbors } from './types';
import { type NeighborLimits, requireFinite, requireInteger, requirePositive } from './validate';

export interface ImplicitAlsOptions {
  /** latent dimensions */
  factors: number;
  /** alternating rounds (each solves all users, then all items) */
  iterations: number;
  /** λ, the L2 penalty on every factor vector; > 0 keeps each system positive definite */
  regularization: number;
  /** confidence slope: c_ui = 1 + alpha·w_ui */
  alpha: number;
  /** seed of the initial item factors (an integer; its low 32 bits are used) */
  seed: number;
}

/** Row-major factor matrices: row r of a side is `[r·factors, (r+1)·factors)`. */
export interface ImplicitAlsModel {
  userFactors: Float64Array;
  itemFactors: Float64Array;
  factors: number;
}

function requireAlsOptions(opts: ImplicitAlsOptions): void {
  requireInteger('factors', opts.factors, 1);
  requireInteger('iterations', opts.iterations, 0);
  requirePositive('regularization', opts.regularization);
  requireFinite('regularization', opts.regularization, 0);
  requireFinite('alpha', opts.alpha, 0);
  requireInteger('seed', opts.seed, Number.MIN_SAFE_INTEGER);
}

/** Upper triangle (row-major f×f) of Σ_r v_r v_rᵀ over all rows of `factors`. */
function gramUpper(factors: Float64Array, f: number): Float64Array {
  const gram = new Float64Array(f * f);
  const rows = factors.length / f;
  for (let r = 0; r < rows; r++) {
    const base = r * f;
    for (let a = 0; a < f; a++) {
      const va = factors[base + a]!;
      if (va === 0) continue;
      for (let b = a; b < f; b++) gram[a * f + b]! += va * factors[base + b]!;
    }
  }
  return gram;
}

/**
 * One half-step: for each row r with entries (c, w) solves
 *   (FᵀF + Σ_c (conf−1)·f_c f_cᵀ + λI) x_r = Σ_c conf·f_c,  conf = 1 + α·w,
 * i.e. Hu–Koren–Volinsky with FᵀF shared by all rows so each row costs O(entries·f² + f³).
 * Rows without entries get x_r = 0, the exact minimiser.
 */
function solveSide(
  fixed: Float64Array,
  solved: Float64Array,
  f: number,
  ptr: Uint32Array,
  cols: Uint32Array,
  weights: Float64Array,
  regularization: number,
  alpha: number,
): void {
  const gram = gramUpper(fixed, f);
  const system = new Float64Array(f * f);
  const rhs = new Float64Array(f);
  const row = new Float64Array(f);
  const a = new Matrix(f, f);
  const b = new Matrix(f, 1);
  const rows = ptr.length - 1;
  for (let r = 0; r < rows; r++) {
    const start = ptr[r]!;
    const end = ptr[r + 1]!;
    const base = r * f;
    if (start === end) {
      solved.fill(0, base, base + f);
      continue;
    }
    system.set(gram);
    rhs.fill(0);
    for (let e = start; e < end; e++) {
      const cb = cols[e]! * f;
      const extra = alpha * weights[e]!;
      const confidence = 1 + extra;
      // A local copy of the factor row keeps the f²/2 inner loop on one small array.
      for (let m = 0; m < f; m++) row[m] = fixed[cb + m]!;
      for (let m = 0; m < f; m++) {
        const vm = row[m]!;
        rhs[m]! += confidence * vm;
        const scaled = extra * vm;
        let cell = m * f + m;
        for (let n = m; n < f; n++) system[cell++]! += scaled * row[n]!;
      }
    }
    for (let m = 0; m < f; m++) {
      a.set(m, m, system[m * f + m]! + regularization);
      for (let n = m + 1; n < f; n++) {
        const v = system[m * f + n]!;
        a.set(m, n, v);
        a.set(n, m, v);
      }
      b.set(m, 0, rhs[m]!);
    }
    const solution = new CholeskyDecomposition(a).solve(b);
    for (let m = 0; m < f; m++) solved[base + m] = solution.get(m, 0);
  }
}

/** Implicit-feedback ALS (Hu, Koren & Volinsky 2008) on the weighted interactions; preference p_ui = 1 on entries. */
export function trainImplicitAls(x: Interactions, opts: ImplicitAlsOptions): ImplicitAlsModel {
  requireAlsOptions(opts);
  const { factors: f, iterations, regularization, alpha, seed } = opts;
  const userFactors = new Float64Array(x.numUsers * f);
  const itemFactors = new Float64Array(x.numItems * f);
  // Small random item factors break the symmetry; users are solved from them first.
  const random = seededRandom(seed);
  const scale = 0.1 / Math.sqrt(f);
  for (let q = 0; q < itemFactors.length; q++) itemFactors[q] = (random() - 0.5) * scale;

  const { itemPtr, userIdx, entry } = itemUsers(x);
  const itemSideWeights = new Float64Array(entry.length);
  for (let p = 0; p < entry.length; p++) itemSideWeights[p] = x.weight[entry[p]!]!;
  for (let it = 0; it < iterations; it++) {
    solveSide(itemFactors, userFactors, f, x.userPtr, x.itemIdx, x.weight, regularization, alpha);
    solveSide(userFactors, itemFactors, f, itemPtr, userIdx, itemSideWeights, regularization, alpha);
  }
  return { userFactors, itemFactors, factors: f };
}

/**
 * The objective ALS minimises: Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ(‖X‖² + ‖Y‖²), computed without visiting all
 * user×item cells: Σ_all s² = Σ_u x_uᵀ(YᵀY)x_u, then entries replace their s² term by c(1 − s)².
 */
export function implicitAlsLoss(
  x: Interactions,
  model: ImplicitAlsModel,
  opts: Pick<ImplicitAlsOptions, 'regularization' | 'alpha'>,
): number {
  const { userFactors, itemFactors, factors: f } = model;
  const gram = gramUpper(itemFactors, f);
  let loss = 0;
  for (let u = 0; u < x.numUsers; u++) {
    const base = u * f;
    for (let m = 0; m < f; m++) {
      const xm = userFactors[base + m]!;
      loss += xm * xm * gram[m * f + m]!;
      for (let n = m + 1; n < f; n++) loss += 2 * xm * userFactors[base + n]! * gram[m * f + n]!;
    }
    for (let q = x.userPtr[u]!, end = x.userPtr[u + 1]!; q < end; q++) {
      const ib = x.itemIdx[q]! * f;
      let s = 0;
      for (let m = 0; m < f; m++) s += userFactors[base + m]! * itemFactors[ib + m]!;
      const confidence = 1 + opts.alpha * x.weight[q]!;
      loss += confidence * (1 - s) * (1 - s) - s * s;
    }
  }
  let norms = 0;
  for (let q = 0; q < userFactors.length; q++) norms += userFactors[q]! * userFactors[q]!;
  for (let q = 0; q < itemFactors.length; q++) norms += itemFactors[q]! * itemFactors[q]!;
  return loss + opts.regularization * norms;
}

export interface AlsNeighborOptions extends NeighborLimits, ImplicitAlsOptions {}

/**
 * Trains ALS, then re-scores only co-occurring pairs (support ≥ minSupport) by the cosine of their item
 * factors, so the cost scales with co-occurring pairs rather than items².
 */
export function alsNeighbors(x: Interactions, opts: AlsNeighborOptions): Neighbors {
  const { itemFactors, factors: f } = trainImplicitAls(x, opts);
  const norms = new Float64Array(x.numItems);
  for (let j = 0; j < x.numItems; j++) {
    let s = 0;
    for (let m = 0; m < f; m++) s += itemFactors[j * f + m]! ** 2;
    norms[j] = Math.sqrt(s);
  }
  return scoreCoOccurringPairs(
    x,
    opts,
    (i, j) => {
      const denominator = norms[i]! * norms[j]!;
      if (denominator === 0) return 0;
      let dot = 0;
      for (let m = 0; m < f; m++) dot += itemFactors[i * f + m]! * itemFactors[j * f + m]!;
      return dot / denominator;
    },
    true,
  );
}
