import type { BoostRules } from '@elevens/domain';
import type { ActivePin, ActiveRules, ModelView, NewItems, ScoredList } from './types';

const EMPTY_MAP = new Map<never, number>();

/** No boosts and no pins. */
export const NO_RULES: ActiveRules = {
  itemFactor: EMPTY_MAP,
  categoryFactor: EMPTY_MAP,
  pins: [],
  reranked: new WeakMap(),
};

const isOpen = (rule: { from?: string | undefined; until?: string | undefined }, nowMs: number) =>
  (rule.from === undefined || Date.parse(rule.from) <= nowMs) &&
  (rule.until === undefined || nowMs < Date.parse(rule.until));

/**
 * Stacked boosts multiply up to MAX_STACKED_FACTOR: 155 boosts of ×100 on one item would overflow its score to
 * Infinity, which JSON writes as null. Item and category factors both at the bound still leave scores finite.
 */
const MAX_STACKED_FACTOR = 1e100;
const stacked = (factor: number | undefined, boost: number) =>
  Math.min((factor ?? 1) * boost, MAX_STACKED_FACTOR);

/**
 * The boosts and pins whose window contains `nowMs`, resolved to the model's item indexes. A pin of an item the
 * model does not hold is kept when `newItems` knows it (a servable catalog item put after the build); other rules
 * naming items the model does not know are dropped (a boost multiplies a score only the model gives). Several
 * boosts of one item or category multiply (up to ×1e100). Pins keep the rules' order and the positions they ask
 * for: which pin takes a position two ask for is settled per answer (`rankItems`), among the pins that can be shown
 * in it. An item pinned twice keeps its first pin.
 */
export function activeRules(
  rules: Pick<BoostRules, 'boosts' | 'pins'>,
  model: Pick<ModelView, 'itemIndex'>,
  nowMs: number,
  newItems?: NewItems,
): ActiveRules {
  const itemFactor = new Map<number, number>();
  const categoryFactor = new Map<string, number>();
  for (const boost of rules.boosts) {
    if (!isOpen(boost, nowMs)) continue;
    if (boost.category !== undefined) {
      categoryFactor.set(boost.category, stacked(categoryFactor.get(boost.category), boost.factor));
    } else if (boost.itemId !== undefined) {
      const idx = model.itemIndex.get(boost.itemId);
      if (idx !== undefined) itemFactor.set(idx, stacked(itemFactor.get(idx), boost.factor));
    }
  }
  const pinned = new Set<string>();
  const pins: ActivePin[] = [];
  for (const pin of rules.pins) {
    if (pinned.has(pin.itemId) || !isOpen(pin, nowMs)) continue;
    const idx = model.itemIndex.get(pin.itemId);
    if (idx !== undefined) {
      pins.push({ itemIdx: idx, position: pin.position - 1 });
    } else {
      const category = newItems?.categoryOf(pin.itemId);
      if (category === undefined) continue;
      pins.push({ itemIdx: -1, position: pin.position - 1, newItem: { itemId: pin.itemId, category } });
    }
    pinned.add(pin.itemId);
  }
  return { itemFactor, categoryFactor, pins, reranked: new WeakMap() };
}

/** The multiplier the rules apply to one item's score. */
export function boostFactor(
  rules: ActiveRules,
  model: Pick<ModelView, 'itemCategories'>,
  item: number,
): number {
  const byItem = rules.itemFactor.get(item) ?? 1;
  if (rules.categoryFactor.size === 0) return byItem;
  return byItem * (rules.categoryFactor.get(model.itemCategories[item] ?? '') ?? 1);
}

/** A fallback list with boosted scores, best first (ties keep list order); the list itself without boosts. */
export function boostedList(
  rules: ActiveRules,
  model: Pick<ModelView, 'itemCategories'>,
  list: ScoredList,
): ScoredList {
  if (rules.itemFactor.size === 0 && rules.categoryFactor.size === 0) return list;
  const cached = rules.reranked.get(list);
  if (cached) return cached;
  const n = list.idx.length;
  const boosted = new Float64Array(n);
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    boosted[k] = list.score[k]! * boostFactor(rules, model, list.idx[k]!);
    order[k] = k;
  }
  order.sort((a, b) => boosted[b]! - boosted[a]! || a - b);
  const idx = new Uint32Array(n);
  const score = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    idx[k] = list.idx[order[k]!]!;
    score[k] = boosted[order[k]!]!;
  }
  const reranked = { idx, score };
  rules.reranked.set(list, reranked);
  return reranked;
}
