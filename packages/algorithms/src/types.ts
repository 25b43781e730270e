/**
 * Shared shapes of the build pipeline. Items and users are dense indexes (0..n-1); the build job owns the
 * mapping to external ids. Everything here is plain typed arrays so hot loops never touch object graphs.
 */

/** Event types as small integers, in the order of `EVENT_TYPE_CODES`. */
export const EVENT_TYPE_CODES = [
  'view',
  'cart',
  'remove_cart',
  'purchase',
  'fav',
  'impression',
  'click',
] as const;
export type EventTypeName = (typeof EVENT_TYPE_CODES)[number];
export const eventTypeCode = (type: EventTypeName): number => EVENT_TYPE_CODES.indexOf(type);

/** Weighted, deduplicated user × item matrix in CSR form (rows = users, entries sorted by item index). */
export interface Interactions {
  numUsers: number;
  numItems: number;
  /** length numUsers + 1 */
  userPtr: Uint32Array;
  /** item index of each entry */
  itemIdx: Uint32Array;
  /** aggregated weight of each entry: Σ typeWeight × decay over the user's events on the item */
  weight: Float64Array;
  /** 1 when the user purchased or carted the item (the primary indicator for LLR), else 0 */
  primary: Uint8Array;
}

/** Top-K neighbours per item in CSR form; each item's neighbours are sorted by score descending. */
export interface Neighbors {
  numItems: number;
  /** length numItems + 1 */
  ptr: Uint32Array;
  idx: Uint32Array;
  score: Float64Array;
}

export type SimilarityAlgorithm = 'cosine' | 'jaccard' | 'llr' | 'swing' | 'als' | 'ease';
