import type { HistoryEvent } from './types';

export const DEFAULT_HISTORY_TYPE_WEIGHTS: Readonly<Record<string, number>> = {
  view: 1,
  click: 1,
  fav: 2,
  cart: 3,
  purchase: 5,
};

export interface HistoryWeighting {
  nowMs: number;
  typeWeights?: Readonly<Record<string, number>>;
  /** an event this old counts half as much as one now */
  halfLifeMs: number;
  /** at most this many distinct items, the highest weighted, become anchors (bounds work per request) */
  maxAnchors: number;
}

/**
 * Collapses a user's recent events into one weight per distinct item: Σ typeWeight × 0.5^(age / halfLife).
 * Returns the `maxAnchors` heaviest items, heaviest first (ties: most recent first).
 */
export function weighHistory(
  history: readonly HistoryEvent[],
  options: HistoryWeighting,
): Map<string, number> {
  const typeWeights = options.typeWeights ?? DEFAULT_HISTORY_TYPE_WEIGHTS;
  // One map lookup per event; weights and times live in arrays by first-seen position.
  const position = new Map<string, number>();
  const itemIds: string[] = [];
  const weights: number[] = [];
  const latest: number[] = [];
  for (const event of history) {
    const typeWeight = typeWeights[event.type] ?? 0;
    if (typeWeight <= 0) continue;
    const age = Math.max(0, options.nowMs - event.timestampMs);
    const w = typeWeight * 0.5 ** (age / options.halfLifeMs);
    const at = position.get(event.itemId);
    if (at === undefined) {
      position.set(event.itemId, itemIds.length);
      itemIds.push(event.itemId);
      weights.push(w);
      latest.push(event.timestampMs);
    } else {
      weights[at]! += w;
      if (event.timestampMs > latest[at]!) latest[at] = event.timestampMs;
    }
  }
  const order = itemIds.map((_, i) => i);
  order.sort(
    (a, b) => weights[b]! - weights[a]! || latest[b]! - latest[a]! || (itemIds[a]! < itemIds[b]! ? -1 : 1),
  );
  const heaviest = new Map<string, number>();
  for (let k = 0; k < order.length && k < options.maxAnchors; k++)
    heaviest.set(itemIds[order[k]!]!, weights[order[k]!]!);
  return heaviest;
}
