import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HISTORY_TYPE_WEIGHTS, MIN_RECENCY_FACTOR, weighHistory } from '../src/history';
import { recommend } from '../src/recommend';
import { SERVING_DEFAULTS } from '../src/serving-defaults';
import { DEFAULT_SERVING_SETTINGS } from '../src/serving-env';
import type { HistoryEvent, ModelView, ScoredList } from '../src/types';

const MINUTE = 60_000;
const YEAR = 365.25 * 24 * 60 * MINUTE;
const TYPES = ['view', 'click', 'fav', 'cart', 'purchase', 'impression'] as const;
const ITEMS = Array.from({ length: 12 }, (_, i) => `i${i}`);

/** A live history as Redis holds it: newest first, ties in any order the generator picks. */
const historyArb = (spanMs: number) =>
  fc
    .array(
      fc.record({
        type: fc.constantFrom(...TYPES),
        itemId: fc.constantFrom(...ITEMS),
        timestampMs: fc.integer({ min: 1_500_000_000_000, max: 1_500_000_000_000 + spanMs }),
      }),
      { minLength: 0, maxLength: 60 },
    )
    .map((events) => events.sort((a, b) => b.timestampMs - a.timestampMs));

const settingsArb = fc.record({
  positionDecay: fc.double({ min: 0.05, max: 1, noNaN: true }),
  sequenceShare: fc.double({ min: 0, max: 1, noNaN: true }),
  halfLifeMs: fc.double({ min: MINUTE, max: 10 * YEAR, noNaN: true }),
  maxAnchors: fc.integer({ min: 1, max: 200 }),
});

/** The formula of `weighHistory`, written out the slow way. */
function bruteForceWeights(
  history: readonly HistoryEvent[],
  settings: { positionDecay: number; sequenceShare: number; halfLifeMs: number; maxAnchors: number },
): Map<string, number> {
  const counted = history
    .map((e, i) => ({ ...e, i }))
    .filter((e) => (DEFAULT_HISTORY_TYPE_WEIGHTS[e.type] ?? 0) > 0)
    .sort((a, b) => b.timestampMs - a.timestampMs || a.i - b.i);
  if (counted.length === 0) return new Map();
  const newest = counted[0]!.timestampMs;
  const sequence: string[] = [];
  for (const e of counted) if (!sequence.includes(e.itemId)) sequence.push(e.itemId);
  const raw = sequence
    .map((itemId, position) => {
      let sum = 0;
      for (const e of counted)
        if (e.itemId === itemId)
          sum +=
            DEFAULT_HISTORY_TYPE_WEIGHTS[e.type]! *
            Math.max(0.5 ** ((newest - e.timestampMs) / settings.halfLifeMs), MIN_RECENCY_FACTOR);
      return { itemId, position, base: sum, sequence: sum * settings.positionDecay ** position };
    })
    .map((r, _, all) => {
      const baseTotal = all.reduce((s, x) => s + x.base, 0);
      const sequenceTotal = all.reduce((s, x) => s + x.sequence, 0);
      const weight =
        (settings.sequenceShare * r.sequence) / sequenceTotal +
        ((1 - settings.sequenceShare) * r.base) / baseTotal;
      return { itemId: r.itemId, position: r.position, weight };
    });
  raw[0]!.weight = Math.max(...raw.map((r) => r.weight));
  raw.sort((a, b) => b.weight - a.weight || a.position - b.position);
  const kept = raw.slice(0, settings.maxAnchors);
  const total = kept.reduce((s, r) => s + r.weight, 0);
  return new Map(kept.map((r) => [r.itemId, r.weight / total]));
}

const model: ModelView = {
  itemIds: ITEMS,
  itemIndex: new Map(ITEMS.map((id, i) => [id, i])),
  itemCategories: ITEMS.map((_, i) => `c${i % 3}`),
  popular: { idx: Uint32Array.from(ITEMS.keys()), score: ITEMS.map((_, i) => 12 - i) },
  trending: { idx: new Uint32Array(0), score: [] },
  popularByCategory: new Map(),
};
/** Every item's neighbours: a fixed pseudo-random similarity, so anchors' weights decide the ranking. */
const neighbors = new Map<string, ScoredList>(
  ITEMS.map((id, a) => {
    const others = ITEMS.map((_, b) => b).filter((b) => b !== a);
    return [
      id,
      { idx: Uint32Array.from(others), score: others.map((b) => ((a * 7 + b * 13) % 11) / 11 + 0.05) },
    ];
  }),
);

const answer = (history: readonly HistoryEvent[]) =>
  recommend({
    model,
    historyWeights: weighHistory(history, {
      positionDecay: SERVING_DEFAULTS.positionDecay,
      sequenceShare: SERVING_DEFAULTS.sequenceShare,
      halfLifeMs: DEFAULT_SERVING_SETTINGS.halfLifeMs,
      maxAnchors: SERVING_DEFAULTS.maxAnchors,
    }),
    neighbors,
    purchased: new Set(history.filter((e) => e.type === 'purchase').map((e) => e.itemId)),
    exclude: new Set(),
    isServable: () => true,
    limit: 10,
    offset: 0,
    settings: DEFAULT_SERVING_SETTINGS,
  }).items;

describe('weighHistory', () => {
  it('equals the formula computed the slow way', () => {
    fc.assert(
      fc.property(historyArb(30 * 24 * 60 * MINUTE), settingsArb, (history, settings) => {
        const fast = weighHistory(history, settings);
        const slow = bruteForceWeights(history, settings);
        expect([...fast.keys()]).toEqual([...slow.keys()]);
        for (const [itemId, weight] of slow) expect(fast.get(itemId)).toBeCloseTo(weight, 12);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same answer for the same history shifted by any Δ from a minute to 20 years', () => {
    fc.assert(
      fc.property(
        historyArb(90 * 24 * 60 * MINUTE),
        fc.integer({ min: MINUTE, max: Math.round(20 * YEAR) }),
        fc.boolean(),
        (history, delta, backwards) => {
          const shift = backwards ? -delta : delta;
          const shifted = history.map((e) => ({ ...e, timestampMs: e.timestampMs + shift }));
          expect(answer(shifted)).toEqual(answer(history));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never gives an anchor a weight of 0, a subnormal or NaN, over histories spanning 10 years', () => {
    fc.assert(
      fc.property(historyArb(Math.round(10 * YEAR)), settingsArb, (history, settings) => {
        const weights = weighHistory(history, settings);
        let total = 0;
        for (const weight of weights.values()) {
          expect(Number.isFinite(weight)).toBe(true);
          expect(weight).toBeGreaterThanOrEqual(2.2250738585072014e-308);
          total += weight;
        }
        if (weights.size > 0) expect(total).toBeCloseTo(1, 9);
      }),
      { numRuns: 300 },
    );
  });

  it('weighs the newest distinct item most, each older one by the position decay (sequence only)', () => {
    const at = (minutesAgo: number, itemId: string): HistoryEvent => ({
      type: 'view',
      itemId,
      timestampMs: 1_000_000_000_000 - minutesAgo * MINUTE,
    });
    const weights = weighHistory([at(0, 'c'), at(1, 'b'), at(2, 'a')], {
      positionDecay: 0.5,
      sequenceShare: 1,
      halfLifeMs: 1e15,
      maxAnchors: 10,
    });
    expect([...weights.keys()]).toEqual(['c', 'b', 'a']);
    expect(weights.get('b')! / weights.get('c')!).toBeCloseTo(0.5, 9);
    expect(weights.get('a')! / weights.get('b')!).toBeCloseTo(0.5, 9);
  });

  it('weighs the item of the newest event at least as much as any other: a fresh view leads an older purchase', () => {
    const weights = weighHistory(
      [
        { type: 'view', itemId: 'viewed', timestampMs: 2_000 },
        { type: 'purchase', itemId: 'bought', timestampMs: 1_000 },
        { type: 'purchase', itemId: 'bought', timestampMs: 900 },
      ],
      { positionDecay: 0.4, sequenceShare: 0.5, halfLifeMs: 1e12, maxAnchors: 10 },
    );
    expect([...weights.keys()]).toEqual(['viewed', 'bought']);
    expect(weights.get('viewed')).toBeCloseTo(weights.get('bought')!, 12);
  });

  it('orders by timestamp whatever order the list holds, and skips types without weight', () => {
    const history: HistoryEvent[] = [
      { type: 'view', itemId: 'old', timestampMs: 1_000 },
      { type: 'impression', itemId: 'shown', timestampMs: 9_000 },
      { type: 'view', itemId: 'new', timestampMs: 5_000 },
    ];
    const weights = weighHistory(history, {
      positionDecay: 0.6,
      sequenceShare: 0.5,
      halfLifeMs: 1e12,
      maxAnchors: 10,
    });
    expect([...weights.keys()]).toEqual(['new', 'old']);
  });
});
