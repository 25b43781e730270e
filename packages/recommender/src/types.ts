import type { RecommendationSource } from '@elevens/domain';

/** A scored list of item indexes into the model's item table, best first. */
export interface ScoredList {
  idx: ArrayLike<number>;
  score: ArrayLike<number>;
}

/**
 * Scored lists by item: a Map by item id, or a served model's lists held in process, which find a list by the
 * item's index in the model (no second look-up of the id).
 */
export interface ListLookup {
  get(itemId: string, itemIdx: number): ScoredList | undefined;
}

/** The whole-model data a recommendation reads, already in memory. */
export interface ModelView {
  itemIds: readonly string[];
  itemIndex: ReadonlyMap<string, number>;
  /** category id per item index ('' = none) */
  itemCategories: readonly string[];
  popular: ScoredList;
  trending: ScoredList;
  popularByCategory: ReadonlyMap<string, ScoredList>;
}

/** One item of the user's recent history. */
export interface HistoryEvent {
  type: string;
  itemId: string;
  timestampMs: number;
}

/** A history (or context) item that candidates are drawn from, with its neighbour list. */
export interface Anchor {
  itemIdx: number;
  weight: number;
  neighbors: ScoredList;
  source: Extract<RecommendationSource, 'personal' | 'similar' | 'bought_together'>;
}

export interface Recommendation {
  itemId: string;
  score: number;
  source: RecommendationSource;
  because?: string[];
}

/** Merchandiser rules in force at one instant, resolved against one model's item table. */
export interface ActiveRules {
  /** score multiplier per item index (absent = 1) */
  itemFactor: ReadonlyMap<number, number>;
  /** score multiplier per category (absent = 1) */
  categoryFactor: ReadonlyMap<string, number>;
  /** pinned items, ascending 0-based positions, one item per position */
  pins: readonly { itemIdx: number; position: number }[];
  /** fallback lists re-ordered by boosted score, filled lazily (the lists are shared by every request) */
  reranked: WeakMap<ScoredList, ScoredList>;
}
