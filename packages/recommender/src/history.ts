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
  const weight = new Map<string, number>();
  const latest = new Map<string, number>();
  for (const event of history) {
    const typeWeight = typeWeights[event.type] ?? 0;
    if (typeWeight <= 0) continue;
    const age = Math.max(0, options.nowMs - event.timestampMs);
    const w = typeWeight * 0.5 ** (age / options.halfLifeMs);
    weight.set(event.itemId, (weight.get(event.itemId) ?? 0) + w);
    latest.set(event.itemId, Math.max(latest.get(event.itemId) ?? 0, event.timestampMs));
  }
  const ranked = [...weight.entries()].sort(
    (a, b) => b[1] - a[1] || latest.get(b[0])! - latest.get(a[0])! || (a[0] < b[0] ? -1 : 1),
  );
  return new Map(ranked.slice(0, options.maxAnchors));
}
