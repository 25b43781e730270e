import type { RecommendationSource } from '@elevens/domain';

/** A scored list of item indexes into the model's item table, best first. */
export interface ScoredList {
  idx: ArrayLike<number>;
  score: ArrayLike<number>;
}

/** Every item's list of one kind in CSR form: item i's entries are [ptr[i], ptr[i + 1]) of `idx` and `score`. */
export interface PackedLists {
  ptr: ArrayLike<number>;
  idx: ArrayLike<number>;
  score: ArrayLike<number>;
}

/**
 * Scored lists by item: a Map by item id, or a served model's lists held in process, which find a list by the
 * item's index in the model (no second look-up of the id).
 */
export interface ListLookup {
  get(itemId: string, itemIdx: number): ScoredList | undefined;
  /**
   * The same lists by item index, packed: `recommend` then reads each anchor's entries in place, with no object
   * per list to reach first (each a cache miss in a served model's memory).
   */
  packed?: PackedLists;
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

/**
 * A list answers fall back on when candidates leave them short: the popular items of the asked category, else of
 * the history's (and the page's) categories; the trending items; the popular items.
 */
export type FallbackList = 'categoryPopular' | 'trending' | 'popular';

/** One item of the user's recent history. */
export interface HistoryEvent {
  type: string;
  itemId: string;
  timestampMs: number;
}

/** A history (or context) item that candidates are drawn from, with its neighbour list. */
export interface Anchor {
  itemIdx: number;
  /**
   * its id as the caller holds it: the string the user's history brought, already in the cache, where the model's
   * copy of the id is a cache miss per `because` it is named in
   */
  itemId?: string;
  weight: number;
  /** its list: entries [from, to) of these arrays (default: all of them), so a packed table is read in place */
  neighbors: ScoredList;
  from?: number;
  to?: number;
  /**
   * the category number (`categoryTableOf`) of each entry of `neighbors`, aligned with its `idx`, when held so:
   * a candidate's category is then read with its entry rather than looked up by item
   */
  categories?: ArrayLike<number>;
  source: Extract<RecommendationSource, 'personal' | 'similar' | 'bought_together'>;
  /**
   * the item may not be shown (blocked, unavailable): its neighbours are still candidates, but no `because` names
   * it, which a storefront would show ("because you viewed …")
   */
  unservable?: boolean;
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
  /**
   * pinned items in the rules' order (an earlier pin goes first where two ask for one position), each with the
   * 0-based position it asks for; one pin per item
   */
  pins: readonly ActivePin[];
  /** fallback lists re-ordered by boosted score, filled lazily (the lists are shared by every request) */
  reranked: WeakMap<ScoredList, ScoredList>;
}

/** One pin in force: of an item of the model's table, or of a catalog item put since the model was built. */
export interface ActivePin {
  /** the item's index in the model's table; -1 for a `newItem` */
  itemIdx: number;
  /** 0-based */
  position: number;
  /** an item the model's table does not hold (put after its build), with its category ('' = none) */
  newItem?: { itemId: string; category: string };
}

/**
 * The catalog items a model's table does not hold that pins may name: a product put after the build is pinned from
 * then on, not from the next build.
 */
export interface NewItems {
  /** the item's category ('' = none) when the catalog holds it and it may be served; else undefined */
  categoryOf(itemId: string): string | undefined;
}
