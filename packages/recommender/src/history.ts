import type { HistoryEvent } from './types';

export const DEFAULT_HISTORY_TYPE_WEIGHTS: Readonly<Record<string, number>> = {
  view: 1,
  click: 1,
  fav: 2,
  cart: 3,
  purchase: 5,
};

/**
 * The least an event's recency factor gets, however old it is next to the user's newest event: an anchor from a
 * past year still counts (a little) and no weight underflows to 0 or to a subnormal number.
 */
export const MIN_RECENCY_FACTOR = 1e-3;

export interface HistoryWeighting {
  typeWeights?: Readonly<Record<string, number>>;
  /** each distinct item counts this much of the one after it in the user's sequence (newest = position 0) */
  positionDecay: number;
  /**
   * the share of each weight that follows the sequence (position decay); the rest follows the whole history
   * evenly (1: sequence only, 0: order ignored)
   */
  sequenceShare: number;
  /** an event this much older than the user's newest event counts half as much (never below MIN_RECENCY_FACTOR) */
  halfLifeMs: number;
  /** at most this many distinct items, the highest weighted, become anchors (bounds work per request) */
  maxAnchors: number;
}

/**
 * Indexes of `history` ordered newest first; ties keep the given order. Null when that is the given order, as the
 * live history is: no array of indexes is made for it.
 */
function newestFirst(history: readonly HistoryEvent[]): number[] | null {
  for (let i = 1; i < history.length; i++)
    if (history[i]!.timestampMs > history[i - 1]!.timestampMs)
      return history
        .map((_, k) => k)
        .sort((a, b) => history[b]!.timestampMs - history[a]!.timestampMs || a - b);
  return null;
}

/**
 * Collapses a user's recent events into one weight per distinct item. Only the user's own activity sets the
 * weights, never the wall clock, so the same history shifted by any Δ weighs the same:
 *
 *   base(item) = Σ_events typeWeight × max(0.5^((newest − ts) / halfLife), MIN_RECENCY_FACTOR)
 *   w(item)      = sequenceShare × positionDecay^position(item) × base(item) / Σ positionDecay^position × base
 *                + (1 − sequenceShare) × base(item) / Σ base
 *   weight(item) ∝ w(item), except weight(newest item) ∝ max over items of w: the item just viewed leads
 *
 * a blend of the sequence (short sessions: the last items predict the next best) and the whole history (long
 * histories: every item says something), where position(item) is the item's rank among the distinct items
 * ordered by their latest event, newest first (the order of a shopper's sequence predicts the next item far
 * better than the clock), and `newest` is the user's newest event. The newest item's floor makes every answer
 * reflect the event just before it: a fresh view is never outweighed by an older purchase. The weights of the
 * `maxAnchors` heaviest items are normalised to sum to 1, so scores built from them stay on one scale whatever
 * the history's age. Returns them heaviest first (ties: newest first).
 */
export function weighHistory(
  history: readonly HistoryEvent[],
  options: HistoryWeighting,
): Map<string, number> {
  const typeWeights = options.typeWeights ?? DEFAULT_HISTORY_TYPE_WEIGHTS;
  const order = newestFirst(history);
  // Weights live in arrays by position in the newest-first sequence of distinct items.
  const position = new Map<string, number>();
  const itemIds: string[] = [];
  const weights: number[] = [];
  let newestMs = Number.NaN;
  for (let k = 0; k < history.length; k++) {
    const event = history[order === null ? k : order[k]!]!;
    const typeWeight = typeWeights[event.type] ?? 0;
    if (!(typeWeight > 0) || !Number.isFinite(event.timestampMs)) continue;
    if (Number.isNaN(newestMs)) newestMs = event.timestampMs;
    const recency = Math.max(
      0.5 ** ((newestMs - event.timestampMs) / options.halfLifeMs),
      MIN_RECENCY_FACTOR,
    );
    const at = position.get(event.itemId);
    if (at === undefined) {
      position.set(event.itemId, itemIds.length);
      itemIds.push(event.itemId);
      weights.push(typeWeight * recency);
    } else weights[at]! += typeWeight * recency;
  }
  let baseTotal = 0;
  let sequenceTotal = 0;
  for (let p = 0, decay = 1; p < weights.length; p++, decay *= options.positionDecay) {
    baseTotal += weights[p]!;
    sequenceTotal += weights[p]! * decay;
  }
  const sequenceFactor = options.sequenceShare / sequenceTotal;
  const baseFactor = (1 - options.sequenceShare) / baseTotal;
  let heaviest = 0;
  for (let p = 0, decay = 1; p < weights.length; p++, decay *= options.positionDecay) {
    weights[p] = weights[p]! * (decay * sequenceFactor + baseFactor);
    heaviest = Math.max(heaviest, weights[p]!);
  }
  // The item of the newest event leads: the answer to a page view reflects that view.
  if (weights.length > 0) weights[0] = heaviest;
  const ranked = itemIds.map((_, p) => p);
  ranked.sort((a, b) => weights[b]! - weights[a]! || a - b);
  const count = Math.min(ranked.length, options.maxAnchors);
  let total = 0;
  for (let k = 0; k < count; k++) total += weights[ranked[k]!]!;
  const anchors = new Map<string, number>();
  for (let k = 0; k < count; k++) anchors.set(itemIds[ranked[k]!]!, weights[ranked[k]!]! / total);
  return anchors;
}
