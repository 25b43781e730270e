import type { RecommendationSource } from '@elevens/domain';
import type { Anchor, ModelView, Recommendation, ScoredList } from './types';

export interface RecommendOptions {
  model: ModelView;
  /** candidates come from these, scored Σ anchor.weight × similarity */
  anchors: readonly Anchor[];
  /** items never to return (purchased, excluded, unservable, the anchors themselves…) */
  isExcluded: (itemIdx: number) => boolean;
  limit: number;
  /** position of the first item to return (pagination); items before it are computed but skipped */
  offset: number;
  /** restrict every source to this category */
  category?: string;
  /** at most this many items of one category in the answer; Infinity for no limit */
  maxPerCategory: number;
  /** how many `because` items to name per recommendation */
  maxBecause?: number;
}

export interface RecommendResult {
  items: Recommendation[];
  /** true when at least one returned item came from the anchors */
  fromAnchors: boolean;
  /** offset of the next page, when more candidates exist */
  nextOffset?: number;
}

interface Candidate {
  score: number;
  source: RecommendationSource;
  because: { idx: number; contribution: number }[];
}

/**
 * Ranks candidates from the anchors' neighbour lists, then fills from the fallbacks in order — category-popular,
 * trending, popular — skipping excluded and already chosen items and respecting the per-category cap. Pure: the
 * same inputs give the same answer, which is what lets offline evaluation use this exact function.
 */
export function recommend(options: RecommendOptions): RecommendResult {
  const { model, limit, offset } = options;
  const wanted = offset + limit;
  const candidates = new Map<number, Candidate>();
  for (const anchor of options.anchors) {
    const { idx, score } = anchor.neighbors;
    for (let k = 0; k < idx.length; k++) {
      const item = idx[k]!;
      if (options.isExcluded(item)) continue;
      const contribution = anchor.weight * score[k]!;
      const existing = candidates.get(item);
      if (existing) {
        existing.score += contribution;
        existing.because.push({ idx: anchor.itemIdx, contribution });
      } else {
        candidates.set(item, {
          score: contribution,
          source: anchor.source,
          because: [{ idx: anchor.itemIdx, contribution }],
        });
      }
    }
  }
  const ranked = [...candidates.entries()]
    .filter(([item]) => options.category === undefined || model.itemCategories[item] === options.category)
    .sort((a, b) => b[1].score - a[1].score || a[0] - b[0]);

  const chosen: Recommendation[] = [];
  const taken = new Set<number>();
  const perCategory = new Map<string, number>();
  const maxBecause = options.maxBecause ?? 3;
  const admit = (item: number): boolean => {
    if (taken.has(item) || options.isExcluded(item)) return false;
    const category = model.itemCategories[item] ?? '';
    if (options.category !== undefined && category !== options.category) return false;
    if (category !== '' && (perCategory.get(category) ?? 0) >= options.maxPerCategory) return false;
    taken.add(item);
    if (category !== '') perCategory.set(category, (perCategory.get(category) ?? 0) + 1);
    return true;
  };

  let fromAnchors = false;
  for (const [item, candidate] of ranked) {
    if (chosen.length >= wanted) break;
    if (!admit(item)) continue;
    fromAnchors = true;
    chosen.push({
      itemId: model.itemIds[item]!,
      score: candidate.score,
      source: candidate.source,
      because: candidate.because
        .sort((a, b) => b.contribution - a.contribution)
        .slice(0, maxBecause)
        .map((b) => model.itemIds[b.idx]!),
    });
  }

  const fill = (list: ScoredList | undefined, source: RecommendationSource) => {
    if (!list) return;
    for (let k = 0; k < list.idx.length && chosen.length < wanted; k++) {
      const item = list.idx[k]!;
      if (admit(item)) chosen.push({ itemId: model.itemIds[item]!, score: list.score[k]!, source });
    }
  };
  if (options.category !== undefined) fill(model.popularByCategory.get(options.category), 'popular');
  fill(model.trending, 'trending');
  fill(model.popular, 'popular');

  const hasMore = chosen.length >= wanted && ranked.length + model.popular.idx.length > wanted;
  return {
    items: chosen.slice(offset, wanted),
    fromAnchors,
    ...(hasMore ? { nextOffset: wanted } : {}),
  };
}
