import type { RecommendationSource } from '@elevens/domain';
import { type Candidates, withCandidates } from './candidates';
import { boostedList, NO_RULES } from './rules';
import type { ActiveRules, Anchor, ModelView, Recommendation, ScoredList } from './types';

export interface RankOptions {
  model: ModelView;
  /** candidates come from these, scored Σ anchor.weight × similarity × boost */
  anchors: readonly Anchor[];
  /** items never to return (purchased, excluded, unservable, the anchors themselves…) */
  isExcluded: (itemIdx: number) => boolean;
  /** how many items to rank, from the first */
  count: number;
  /** restrict every source to this category (the per-category cap then does not apply) */
  category?: string;
  /** without `category`: the categories whose popular items fill first (those of the user's history) */
  fallbackCategories?: readonly string[];
  /** at most this many items of one category, relaxed only when the catalog has too few eligible otherwise */
  maxPerCategory: number;
  /** how many `because` items to name per recommendation */
  maxBecause?: number;
  rules?: ActiveRules;
}

const categoryIndexes = new WeakMap<readonly string[], Map<string, Uint32Array>>();

/**
 * The item indexes of one category, in index order: built once per item table (one pass, kept while the table
 * lives), so a category's catalog sweep reads that category only.
 */
function itemsOfCategory(model: Pick<ModelView, 'itemCategories'>, category: string): Uint32Array {
  let index = categoryIndexes.get(model.itemCategories);
  if (!index) {
    const grouped = new Map<string, number[]>();
    model.itemCategories.forEach((c, item) => {
      const items = grouped.get(c);
      if (items) items.push(item);
      else grouped.set(c, [item]);
    });
    index = new Map([...grouped].map(([c, items]) => [c, Uint32Array.from(items)]));
    categoryIndexes.set(model.itemCategories, index);
  }
  return index.get(category) ?? new Uint32Array(0);
}

/**
 * Ranks candidates from the anchors' neighbour lists (boosted), then fills from the fallbacks in order —
 * category-popular, trending, popular, then the rest of the catalog — skipping excluded and already chosen items
 * and respecting the per-category cap; if that leaves the answer short, the cap is relaxed rather than
 * answering with fewer items than eligible ones exist. Pins then take their positions. Work is bounded by
 * Σ anchor list lengths plus the fallback items examined until `count` are found (with `category`, only that
 * category's items).
 */
export function rankItems(options: RankOptions): Recommendation[] {
  const { model, count } = options;
  const rules = options.rules ?? NO_RULES;
  const pinnedIdx = new Set(rules.pins.map((p) => p.itemIdx));
  const eligible = (item: number) =>
    !options.isExcluded(item) &&
    (options.category === undefined || model.itemCategories[item] === options.category);

  // Pins are inserted afterwards, so rank enough to fill every position they do not take.
  const pins = rules.pins.filter((p) => eligible(p.itemIdx));
  const wanted = count - pins.filter((p) => p.position < count).length;
  const chosen: Recommendation[] = [];
  const taken = new Set<number>(pinnedIdx);
  const perCategory = new Map<string, number>();
  const cap = options.category === undefined ? options.maxPerCategory : Number.POSITIVE_INFINITY;
  const maxBecause = options.maxBecause ?? 3;

  // Cheapest checks first: most candidates a full category turns away never reach the exclusion rules.
  const admit = (item: number, capped: boolean): boolean => {
    const category = model.itemCategories[item] ?? '';
    const inCategory = category === '' ? 0 : (perCategory.get(category) ?? 0);
    if ((capped && inCategory >= cap) || taken.has(item) || !eligible(item)) return false;
    taken.add(item);
    if (category !== '') perCategory.set(category, inCategory + 1);
    return true;
  };

  const fillFromList = (list: ScoredList | undefined, source: RecommendationSource, capped: boolean) => {
    if (!list) return;
    const ordered = boostedList(rules, model, list);
    for (let k = 0; k < ordered.idx.length && chosen.length < wanted; k++) {
      const item = ordered.idx[k]!;
      if (admit(item, capped))
        chosen.push({ itemId: model.itemIds[item]!, score: ordered.score[k]!, source });
    }
  };

  const pass = (candidates: Candidates, capped: boolean) => {
    for (let rank = 0; chosen.length < wanted; rank++) {
      const item = candidates.at(rank);
      if (item === -1) break;
      if (!admit(item, capped)) continue;
      chosen.push({
        itemId: model.itemIds[item]!,
        score: candidates.score(rank),
        source: candidates.source(rank),
        because: candidates.because(rank).map((idx) => model.itemIds[idx]!),
      });
    }
    if (options.category !== undefined)
      fillFromList(model.popularByCategory.get(options.category), 'popular', capped);
    else
      for (const c of options.fallbackCategories ?? [])
        fillFromList(model.popularByCategory.get(c), 'popular', capped);
    fillFromList(model.trending, 'trending', capped);
    fillFromList(model.popular, 'popular', capped);
    const rest = options.category === undefined ? undefined : itemsOfCategory(model, options.category);
    const end = rest ? rest.length : model.itemIds.length;
    for (let k = 0; k < end && chosen.length < wanted; k++) {
      const item = rest ? rest[k]! : k;
      if (admit(item, capped)) chosen.push({ itemId: model.itemIds[item]!, score: 0, source: 'popular' });
    }
  };
  withCandidates(model, options.anchors, rules, maxBecause, (candidates) => {
    pass(candidates, true);
    if (chosen.length < wanted && cap !== Number.POSITIVE_INFINITY) pass(candidates, false);
  });

  // A pin beyond the ranked range still lands at the end when the catalog ran out before its position.
  for (const pin of pins) {
    const position = Math.min(pin.position, chosen.length);
    if (position >= count) break;
    // A pinned item takes the score of the item it goes ahead of, so scores still read best first.
    const score = chosen[position]?.score ?? chosen[position - 1]?.score ?? 0;
    chosen.splice(position, 0, { itemId: model.itemIds[pin.itemIdx]!, score, source: 'popular' });
  }
  return chosen;
}
