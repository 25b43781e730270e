import {
  type BuildInput,
  boughtTogether,
  itemNeighbors,
  type Neighbors,
  popularByCategory,
  type SimilarityAlgorithm,
  type SimilarityParams,
  sortedNumbering,
  topKIndices,
  trendingScores,
} from '@elevens/algorithms';
import type { ModelToPublish, PackedLists } from '@elevens/redis-stores';

export interface ModelSettings {
  algorithm: SimilarityAlgorithm;
  similarity: SimilarityParams;
  popularSize: number;
  trendingRecentHours: number;
  trendingBaselineHours: number;
  boughtTogetherSize: number;
  /** shoppers with a basket holding both items of a pair, for it to be bought together */
  boughtTogetherMinSupport: number;
}

export interface AssembledModel {
  model: ModelToPublish;
  neighbors: Neighbors;
  /** seconds spent per phase */
  phases: Record<string, number>;
}

const gather = (scores: Float64Array, idx: Uint32Array) => ({
  idx,
  score: Array.from(idx, (i) => scores[i]!),
});

/**
 * Everything a model version holds, computed from the build input: neighbours by the chosen algorithm, popular
 * (overall and per category, decayed), trending and bought-together. Pure; the build job and offline
 * evaluation both call it, so what is evaluated is what is served.
 */
export function assembleModel(
  input: BuildInput,
  itemIds: readonly string[],
  itemCategoryIds: readonly string[],
  settings: ModelSettings,
  version: string,
  builtAtMs: number,
): AssembledModel {
  const phases: Record<string, number> = {};
  const timed = <T>(name: string, fn: () => T): T => {
    const start = performance.now();
    const result = fn();
    phases[name] = (performance.now() - start) / 1000;
    return result;
  };
  const numItems = itemIds.length;
  const neighbors = timed('similarity', () =>
    itemNeighbors(input.interactions, settings.algorithm, settings.similarity),
  );
  const together = timed('boughtTogether', () =>
    boughtTogether(input.baskets, numItems, {
      k: settings.boughtTogetherSize,
      minSupport: settings.boughtTogetherMinSupport,
    }),
  );
  const lists = timed('lists', () => {
    // Only items with some popularity: one only ever shown (impressions) or taken out of carts scores 0, and in a
    // list it would come before trending and popular items in a shopper's fallbacks.
    const isPopular = (i: number) => input.itemPopularity[i]! > 0;
    const popular = topKIndices(input.itemPopularity, settings.popularSize, isPopular);
    const trendScores = trendingScores(
      input.trendingRecent,
      input.trendingBaseline,
      input.trendingRecentUsers,
      {
        recentHours: settings.trendingRecentHours,
        baselineHours: settings.trendingBaselineHours,
        minRecent: 2,
        minRecentUsers: 2,
        prior: 5,
      },
    );
    const trending = topKIndices(trendScores, settings.popularSize, (i) => trendScores[i]! > 1);
    const categoryCodes = new Map<string, number>();
    const categoryNames: string[] = [];
    const itemCategory = new Int32Array(numItems).fill(-1);
    itemCategoryIds.forEach((c, i) => {
      if (!c || !isPopular(i)) return;
      let code = categoryCodes.get(c);
      if (code === undefined) {
        code = categoryNames.length;
        categoryCodes.set(c, code);
        categoryNames.push(c);
      }
      itemCategory[i] = code;
    });
    const byCategoryIdx = popularByCategory(input.itemPopularity, itemCategory, settings.popularSize);
    const byCategory = new Map<string, { idx: Uint32Array; score: number[] }>();
    for (const [code, idx] of byCategoryIdx)
      byCategory.set(categoryNames[code]!, gather(input.itemPopularity, idx));
    return {
      popular: gather(input.itemPopularity, popular),
      trending: gather(trendScores, trending),
      byCategory,
    };
  });
  return {
    neighbors,
    phases,
    model: {
      version,
      algorithm: settings.algorithm,
      builtAtMs,
      itemIds,
      itemCategories: itemCategoryIds,
      neighbors,
      boughtTogether: together,
      popular: lists.popular,
      trending: lists.trending,
      popularByCategory: lists.byCategory,
    },
  };
}

/** `lists` over a wider item table: old item i's list becomes item moved[i]'s; the other items' lists are empty. */
function widenLists(lists: PackedLists, moved: Uint32Array, numItems: number): PackedLists {
  const ptr = new Uint32Array(numItems + 1);
  for (let i = 0; i < moved.length; i++) ptr[moved[i]! + 1] = lists.ptr[i + 1]! - lists.ptr[i]!;
  for (let p = 0; p < numItems; p++) ptr[p + 1]! += ptr[p]!;
  return { ptr, idx: lists.idx.map((i) => moved[i]!), score: lists.score };
}

const widenScored = (list: { idx: ArrayLike<number>; score: ArrayLike<number> }, moved: Uint32Array) => ({
  idx: Uint32Array.from(list.idx, (i) => moved[i]!),
  score: list.score,
});

/**
 * The model with every catalog item in its item table, ids still numbered in sorted order: an item with no events
 * in the window (a product launched for a campaign) gets empty neighbour and bought-together lists, and is in no
 * popular or trending list, but pins and boosts naming it resolve, and a history or page naming it is known. The
 * lists of the items with events are the same lists, renumbered, so their answers do not change.
 */
export function withCatalogItems(
  model: ModelToPublish,
  categoryOfItem: ReadonlyMap<string, string>,
): ModelToPublish {
  const known = new Set(model.itemIds);
  const added: string[] = [];
  for (const itemId of categoryOfItem.keys()) if (!known.has(itemId)) added.push(itemId);
  if (added.length === 0) return model;
  const numbering = sortedNumbering([...model.itemIds, ...added]);
  const numItems = numbering.ids.length;
  const moved = numbering.index.subarray(0, model.itemIds.length);
  const itemCategories = new Array<string>(numItems);
  for (let i = 0; i < moved.length; i++) itemCategories[moved[i]!] = model.itemCategories[i]!;
  for (let j = 0; j < added.length; j++)
    itemCategories[numbering.index[moved.length + j]!] = categoryOfItem.get(added[j]!)!;
  const popularByCategory = new Map<string, { idx: Uint32Array; score: ArrayLike<number> }>();
  for (const [category, list] of model.popularByCategory)
    popularByCategory.set(category, widenScored(list, moved));
  return {
    ...model,
    itemIds: numbering.ids,
    itemCategories,
    neighbors: widenLists(model.neighbors, moved, numItems),
    boughtTogether: widenLists(model.boughtTogether, moved, numItems),
    popular: widenScored(model.popular, moved),
    trending: widenScored(model.trending, moved),
    popularByCategory,
  };
}
