import { alsNeighbors } from './als';
import { easeNeighbors } from './ease';
import { llrNeighbors } from './llr';
import { cosineNeighbors, jaccardNeighbors } from './similarity';
import { swingNeighbors } from './swing';
import type { Interactions, Neighbors, SimilarityAlgorithm } from './types';

/** Options of every similarity algorithm; each reads the ones it needs. */
export interface SimilarityParams {
  /** neighbours kept per item */
  k: number;
  /** minimum co-occurring users for a pair to be scored */
  minSupport: number;
  /** pairs scoring below this are dropped (pairs scoring <= 0 always are) */
  minScore: number;
  /** swing: user-activity smoothing, (|I_u| + alpha1)^−beta */
  alpha1: number;
  /** swing: pair-overlap smoothing, 1 / (alpha2 + |I_u ∩ I_v|) */
  alpha2: number;
  /** swing: user-activity exponent */
  beta: number;
  /** swing: at most this many users of an item take part in user pairs */
  swingMaxUsersPerItem: number;
  /** ALS latent dimensions */
  factors: number;
  /** ALS alternating rounds */
  iterations: number;
  /** ALS L2 penalty λ */
  regularization: number;
  /** ALS confidence slope, c = 1 + alpha·w */
  alpha: number;
  /** seed of the ALS initialisation and of the swing user sample */
  seed: number;
  /** EASE^R: λ, the L2 penalty on the item-item weights */
  easeLambda: number;
}

/**
 * minSupport 2: with 1, two items seen together by a single user get cosine / Jaccard scores up to 1.0 and
 * outrank pairs backed by many users; swing needs two users anyway.
 */
export const DEFAULT_SIMILARITY_PARAMS: Readonly<SimilarityParams> = Object.freeze({
  k: 50,
  minSupport: 2,
  minScore: 0,
  alpha1: 5,
  alpha2: 1,
  beta: 0.3,
  swingMaxUsersPerItem: 500,
  factors: 32,
  iterations: 10,
  regularization: 0.05,
  alpha: 10,
  seed: 42,
  easeLambda: 500,
});

export function itemNeighbors(
  x: Interactions,
  algorithm: SimilarityAlgorithm,
  params: SimilarityParams,
): Neighbors {
  const limits = { k: params.k, minSupport: params.minSupport, minScore: params.minScore };
  switch (algorithm) {
    case 'cosine':
      return cosineNeighbors(x, limits);
    case 'jaccard':
      return jaccardNeighbors(x, limits);
    case 'llr':
      return llrNeighbors(x, limits);
    case 'swing':
      return swingNeighbors(x, {
        ...limits,
        alpha1: params.alpha1,
        alpha2: params.alpha2,
        beta: params.beta,
        maxUsersPerItem: params.swingMaxUsersPerItem,
        seed: params.seed,
      });
    case 'als':
      return alsNeighbors(x, {
        ...limits,
        factors: params.factors,
        iterations: params.iterations,
        regularization: params.regularization,
        alpha: params.alpha,
        seed: params.seed,
      });
    case 'ease':
      return easeNeighbors(x, { ...limits, lambda: params.easeLambda });
    default: {
      const unknown: never = algorithm;
      throw new RangeError(`unknown similarity algorithm ${String(unknown)}`);
    }
  }
}

/** The neighbours of one item, as views into `n` (no copy). */
export function neighborsOf(n: Neighbors, itemIdx: number): { idx: Uint32Array; score: Float64Array } {
  if (!(itemIdx >= 0 && itemIdx < n.numItems)) throw new RangeError(`item index ${itemIdx} out of range`);
  const start = n.ptr[itemIdx]!;
  const end = n.ptr[itemIdx + 1]!;
  return { idx: n.idx.subarray(start, end), score: n.score.subarray(start, end) };
}
