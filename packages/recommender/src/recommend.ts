import { weighHistory } from './history';
import { itemIdTableOf } from './item-table';
import { categoryTableOf, entryCategoriesOf, rankItems } from './rank';
import { readAhead } from './read-ahead';
import type {
  ActiveRules,
  Anchor,
  FallbackList,
  HistoryEvent,
  ListLookup,
  ModelView,
  Recommendation,
  ScoredList,
} from './types';

export interface RecommendSettings {
  /** each distinct history item counts this much of the next newer one (see `weighHistory`) */
  positionDecay: number;
  /** the share of the history's weight that follows the sequence, the rest the whole history (see `weighHistory`) */
  sequenceShare: number;
  /** an event this much older than the user's newest event counts half as much (see `weighHistory`) */
  halfLifeMs: number;
  /** at most this many distinct history items become anchors */
  maxAnchors: number;
  /** at most this many items of one category per answer */
  maxPerCategory: number;
  /** categories where buying again is normal: purchased items of these stay recommendable */
  repurchasableCategories: ReadonlySet<string>;
  /**
   * a placement's choice to offer the history items the user has not bought ("pick up where you left off"), each
   * scored as its own neighbour; default false: what the user just looked at is known to them. The context item
   * and purchases stay excluded.
   */
  offerSeen?: boolean;
  typeWeights?: Readonly<Record<string, number>>;
  maxBecause?: number;
}

/** The item the user is looking at (product page) or has in the cart, with its model list. */
export interface RecommendContext {
  itemId: string;
  source: 'similar' | 'bought_together';
  /** its neighbours (product) or bought-together items (cart); undefined when the model has none */
  list: ScoredList | undefined;
}

export interface RecommendInput {
  model: ModelView;
  /** `weighUserHistory` of the user's recent events; empty without personalization consent */
  historyWeights: ReadonlyMap<string, number>;
  /** neighbour lists by item id, holding at least those of the `historyWeights` items that exist */
  neighbors: ListLookup;
  context?: RecommendContext;
  purchased: ReadonlySet<string>;
  exclude: ReadonlySet<string>;
  /** false for blocked or unavailable items */
  isServable: (itemId: string) => boolean;
  /**
   * the model indexes of the items `isServable` refuses, when the caller holds them so: checked instead of
   * calling it, so a candidate turned away or chosen needs no read of its id
   */
  unservable?: ReadonlySet<number>;
  rules?: ActiveRules;
  /**
   * the order the fallback lists fill an answer short of candidates (`rankItems`); an experiment arm naming the
   * popular or the trending list puts that one first
   */
  fallbackOrder?: readonly FallbackList[];
  limit: number;
  /** position of the first item to return (pagination) */
  offset: number;
  category?: string;
  settings: RecommendSettings;
}

export interface RecommendResult {
  items: Recommendation[];
  /** true when the answer drew on the user's history */
  personalized: boolean;
  /** offset of the next page, when more eligible items exist */
  nextOffset?: number;
}

/**
 * The user's history as `recommend` reads it: one weight per anchor item, heaviest first, summing to 1 (see
 * `weighHistory`). Its keys are the items whose neighbour lists to fetch before calling `recommend`.
 */
export function weighUserHistory(
  history: readonly HistoryEvent[],
  settings: RecommendSettings,
): Map<string, number> {
  return weighHistory(history, {
    positionDecay: settings.positionDecay,
    sequenceShare: settings.sequenceShare,
    halfLifeMs: settings.halfLifeMs,
    maxAnchors: settings.maxAnchors,
    ...(settings.typeWeights ? { typeWeights: settings.typeWeights } : {}),
  });
}

const NO_INDEXES: ReadonlySet<number> = new Set();

/** Reads the list offset of each of the first `count` anchors found, before the anchors are built (`readAhead`). */
function readAheadOffsets(ptr: ArrayLike<number>, items: Int32Array, count: number): void {
  let sum = 0;
  for (let k = 0; k < count; k++) if (items[k]! !== -1) sum += ptr[items[k]!]!;
  readAhead.sink = sum;
}

/**
 * The anchors' model indexes, one array for every call (grown when a call has more anchors): a typed array of more
 * than 64 bytes has a buffer outside V8's heap, allocated and later freed for each answer that made one.
 */
let anchorIndexes = new Int32Array(64);

/** The model indexes of the items `itemIds` names that the model holds, by its `itemIndex` or `itemIdTableOf`. */
export function modelIndexesOf(
  index: { get(itemId: string): number | undefined },
  itemIds: Iterable<string> & { readonly size: number },
): ReadonlySet<number> {
  if (itemIds.size === 0) return NO_INDEXES;
  const indexes = new Set<number>();
  for (const itemId of itemIds) {
    const idx = index.get(itemId);
    if (idx !== undefined) indexes.add(idx);
  }
  return indexes;
}

/**
 * One recommendation answer, exactly as serving computes it: history weighted by type, sequence position and
 * recency becomes anchors; a product or cart context adds the context item's list with as much weight as the
 * whole history, so the two blend evenly; then rules, fallbacks and pins (see `rankItems`). A score is
 * Σ anchor weight × similarity (× boost): with anchor weights summing to 1, the weighted mean similarity of the
 * item to the user's history. Pure: the same inputs give the same answer, which is what lets offline evaluation
 * call this very function.
 */
export function recommend(input: RecommendInput): RecommendResult {
  const { model, settings } = input;
  const weights = input.historyWeights;
  const anchors: Anchor[] = [];
  const anchorItems = new Set<number>();
  const packed = input.neighbors.packed;
  const packedCategories = packed ? entryCategoriesOf(model, packed) : undefined;
  // The request's ids are found in the model's typed id table: a Map look-up is cache misses on a busy server.
  const ids = itemIdTableOf(model);
  // The anchors' slots, then their lists' offsets, are read in one sweep each: independent reads, served in
  // parallel, where finding one anchor after another waits for each (both are cache misses in a served model).
  const anchorIds: string[] = [];
  const anchorWeights: number[] = [];
  for (const [itemId, weight] of weights) {
    anchorIds.push(itemId);
    anchorWeights.push(weight);
  }
  if (anchorIndexes.length < anchorIds.length) anchorIndexes = new Int32Array(anchorIds.length);
  const anchorIdx = anchorIndexes;
  ids.getAll(anchorIds, anchorIdx);
  if (packed) readAheadOffsets(packed.ptr, anchorIdx, anchorIds.length);
  const { unservable } = input;
  const isUnservable = (idx: number, itemId: string): boolean =>
    unservable ? unservable.has(idx) : !input.isServable(itemId);
  let historyWeight = 0;
  for (let position = 0; position < anchorIds.length; position++) {
    const itemIdx = anchorIdx[position]!;
    if (itemIdx === -1) continue;
    const itemId = anchorIds[position]!;
    const weight = anchorWeights[position]!;
    anchorItems.add(itemIdx);
    historyWeight += weight;
    // A blocked history item still leads to its neighbours, but is never named as the reason for them.
    const anchorUnservable = isUnservable(itemIdx, itemId);
    // Packed lists are read in place: the anchor's entries are [ptr[item], ptr[item + 1]) of the version's arrays.
    const neighbors = packed ?? input.neighbors.get(itemId, itemIdx);
    const from = packed ? packed.ptr[itemIdx]! : 0;
    const to = packed ? packed.ptr[itemIdx + 1]! : (neighbors?.idx.length ?? 0);
    if (neighbors && to > from)
      anchors.push({
        itemIdx,
        itemId,
        weight,
        neighbors,
        from,
        to,
        categories: packedCategories,
        source: 'personal',
        unservable: anchorUnservable,
      });
    // Offered, a seen item is its own nearest neighbour (similarity 1): it scores its whole history weight.
    // Typed arrays like the model's lists, so the scoring loop sees one kind of list.
    if (settings.offerSeen)
      anchors.push({
        itemIdx,
        itemId,
        weight,
        neighbors: { idx: Uint32Array.of(itemIdx), score: Float32Array.of(1) },
        from: 0,
        to: 1,
        source: 'personal',
        unservable: anchorUnservable,
      });
  }
  const contextIdx = input.context ? ids.get(input.context.itemId) : undefined;
  if (input.context && contextIdx !== undefined) {
    anchorItems.add(contextIdx);
    if (input.context.list)
      anchors.push({
        itemIdx: contextIdx,
        itemId: input.context.itemId,
        weight: historyWeight > 0 ? historyWeight : 1,
        neighbors: input.context.list,
        from: 0,
        to: input.context.list.idx.length,
        source: input.context.source,
        unservable: isUnservable(contextIdx, input.context.itemId),
      });
  }
  // The context item's category first, then those of the history; each once, told apart by number. Only read
  // when the candidates leave the answer short.
  const fallbackCategories = () => {
    const { ofItem } = categoryTableOf(model);
    const names: string[] = [];
    const numbers: number[] = [];
    for (const idx of contextIdx === undefined ? anchorItems : [contextIdx, ...anchorItems]) {
      const number = ofItem[idx] ?? -1;
      if (number === -1 || numbers.includes(number)) continue;
      numbers.push(number);
      names.push(model.itemCategories[idx]!);
    }
    return names;
  };

  // Purchases and exclusions by model index (item ids are unique in a model), so a candidate is checked without
  // reading its id: the id is a cache miss in a served model's memory, read only for the items answered.
  const purchased = modelIndexesOf(ids, input.purchased);
  const excluded = modelIndexesOf(ids, input.exclude);
  const isExcluded = (idx: number): boolean => {
    // The page's (or the cart's) own item never, even one bought in a repurchasable category.
    if (idx === contextIdx) return true;
    if (purchased.has(idx)) {
      // Bought items of repurchasable categories come back.
      if (!settings.repurchasableCategories.has(model.itemCategories[idx] ?? '')) return true;
    } else if (anchorItems.has(idx) && !settings.offerSeen) {
      // What the user just looked at is known to them, unless the placement offers it.
      return true;
    }
    if (excluded.has(idx)) return true;
    return unservable ? unservable.has(idx) : !input.isServable(model.itemIds[idx]!);
  };

  // A pinned item put since the build is held to the same rules by its id: the model's indexes do not name it.
  const isNewItemExcluded = (itemId: string, category: string): boolean =>
    itemId === input.context?.itemId ||
    (input.purchased.has(itemId)
      ? !settings.repurchasableCategories.has(category)
      : weights.has(itemId) && !settings.offerSeen) ||
    input.exclude.has(itemId) ||
    !input.isServable(itemId);

  const wanted = input.offset + input.limit;
  // One more than the page, to know whether a next page exists.
  const ranked = rankItems({
    model,
    anchors,
    isExcluded,
    isNewItemExcluded,
    count: wanted + 1,
    ...(input.category === undefined ? {} : { category: input.category }),
    fallbackCategories,
    maxPerCategory: settings.maxPerCategory,
    ...(settings.maxBecause === undefined ? {} : { maxBecause: settings.maxBecause }),
    ...(input.rules ? { rules: input.rules } : {}),
    ...(input.fallbackOrder ? { fallbackOrder: input.fallbackOrder } : {}),
  });
  const items = ranked.slice(input.offset, wanted);
  return {
    items,
    personalized: items.some((item) => item.source === 'personal'),
    ...(ranked.length > wanted ? { nextOffset: wanted } : {}),
  };
}
