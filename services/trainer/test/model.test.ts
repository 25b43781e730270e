import { DEFAULT_SERVING_SETTINGS } from '@elevens/recommender';
import { describe, expect, it } from 'vitest';
import {
  buildEvaluationModel,
  type DatasetEvent,
  evaluationSettingsFrom,
  loadBuildConfig,
  servedRanking,
  withCatalogItems,
} from '../src';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

const ev = (userId: string, itemId: string, day: number, type = 'view'): DatasetEvent => ({
  userId,
  itemId,
  type,
  timestamp: T0 + day * DAY,
});

describe('popular lists', () => {
  // `shown` was only ever shown (impressions) and `dropped` only taken out of carts: no weighted event, popularity 0.
  const categories = new Map([
    ['a', 'shoes'],
    ['shown', 'shoes'],
    ['t', 'hats'],
    ['dropped', 'hats'],
  ]);
  const train = [
    ev('u1', 'a', 1),
    ev('u1', 'shown', 1, 'impression'),
    ev('u2', 'a', 2),
    ev('u2', 'shown', 2, 'impression'),
    ev('u3', 't', 2),
    ev('u3', 'dropped', 2, 'remove_cart'),
    ev('u4', 't', 3),
  ];
  const settings = evaluationSettingsFrom(loadBuildConfig({}), { ...DEFAULT_SERVING_SETTINGS });
  const model = buildEvaluationModel(train, categories, settings);
  const ids = (idx: ArrayLike<number>) => Array.from(idx, (i) => model.assembled.model.itemIds[i]);

  it('hold only items with some popularity, overall and per category', () => {
    const { popular, popularByCategory } = model.assembled.model;
    expect(ids(popular.idx)).toEqual(['t', 'a']);
    expect(Array.from(popular.score).every((score) => score > 0)).toBe(true);
    expect(ids(popularByCategory.get('shoes')!.idx)).toEqual(['a']);
    expect(ids(popularByCategory.get('hats')!.idx)).toEqual(['t']);
  });

  it('do not put an item nobody engaged with ahead of popular ones in a shopper’s fallback', () => {
    const history = [ev('x', 'a', 4)];
    const ranked = servedRanking(
      model,
      {
        userId: 'x',
        target: 't',
        cutoff: T0 + 5 * DAY,
        heldOut: new Set(['t']),
        heldOutEvents: [],
        history,
      },
      settings.serving,
    );
    expect(ranked.indexOf('t')).toBeGreaterThanOrEqual(0);
    expect(ranked.indexOf('t')).toBeLessThan(ranked.indexOf('shown'));
  });
});

describe('the popular lists, against one heavy shopper', () => {
  // A reseller buys `bulk` 1,000 times, the last at "now"; three shoppers buy `liked` once each, at "now" too.
  const categories = new Map([
    ['bulk', 'shoes'],
    ['liked', 'shoes'],
  ]);
  const train = [
    ...Array.from({ length: 1000 }, (_, k) => ({
      ...ev('reseller', 'bulk', 5, 'purchase'),
      timestamp: T0 + 5 * DAY - k,
    })),
    ev('s1', 'liked', 5, 'purchase'),
    ev('s2', 'liked', 5, 'purchase'),
    ev('s3', 'liked', 5, 'purchase'),
  ];
  const settings = evaluationSettingsFrom(loadBuildConfig({}), { ...DEFAULT_SERVING_SETTINGS });
  const model = buildEvaluationModel(train, categories, settings);
  const ids = (idx: ArrayLike<number>) => Array.from(idx, (i) => model.assembled.model.itemIds[i]);

  it('are led by what most shoppers bought, overall and per category', () => {
    const { popular, popularByCategory } = model.assembled.model;
    expect(ids(popular.idx)).toEqual(['liked', 'bulk']);
    expect(ids(popularByCategory.get('shoes')!.idx)).toEqual(['liked', 'bulk']);
    // Three purchases against the reseller's thousand, which score as one.
    expect(Array.from(popular.score)).toEqual([15, 5]);
  });
});

describe('the trending list', () => {
  const HOUR = 3_600_000;
  const at = (userId: string, itemId: string, ms: number, type = 'view'): DatasetEvent => ({
    userId,
    itemId,
    type,
    timestamp: ms,
  });
  const now = T0 + 10 * DAY;
  const settings = evaluationSettingsFrom(loadBuildConfig({}), { ...DEFAULT_SERVING_SETTINGS });

  it('is not made by one shopper’s burst of views, however long', () => {
    const train = [
      at('a', 'steady', now - 3 * DAY),
      at('b', 'steady', now - 2 * DAY),
      // One shopper (or a bot) reloads a product page 200 times in the last hour, and carts it.
      ...Array.from({ length: 200 }, (_, k) => at('reloader', 'burst', now - HOUR + k * 1000)),
      at('reloader', 'burst', now - HOUR / 2, 'cart'),
      at('x', 'rising', now - 2 * HOUR, 'cart'),
      at('y', 'rising', now),
    ];
    const model = buildEvaluationModel(train, new Map(), settings);
    const { itemIds, trending } = model.assembled.model;
    expect(Array.from(trending.idx, (i) => itemIds[i])).toEqual(['rising']);
  });
});

describe('the served item table', () => {
  const categories = new Map([
    ['b', 'shoes'],
    ['d', 'shoes'],
    ['f', 'hats'],
  ]);
  const train = [
    ev('u1', 'b', 1, 'cart'),
    ev('u1', 'd', 1, 'cart'),
    ev('u2', 'b', 2, 'cart'),
    ev('u2', 'd', 2, 'cart'),
    ev('u2', 'f', 2),
    ev('u3', 'f', 3),
    ev('u3', 'd', 3),
  ];
  const settings = evaluationSettingsFrom(loadBuildConfig({}), { ...DEFAULT_SERVING_SETTINGS });
  const built = buildEvaluationModel(train, categories, settings).assembled.model;
  // A catalog item sorting before, between and after those with events, none of them with an event.
  const catalog = new Map([...categories, ['a', 'hats'], ['c', ''], ['z', 'shoes']]);
  const served = withCatalogItems(built, catalog);
  const listsById = (model: typeof built, kind: 'neighbors' | 'boughtTogether') =>
    Object.fromEntries(
      model.itemIds.map((id, i) => {
        const { ptr, idx, score } = model[kind];
        const entries = [];
        for (let e = ptr[i]!; e < ptr[i + 1]!; e++) entries.push([model.itemIds[idx[e]!], score[e]]);
        return [id, entries];
      }),
    );
  const ids = (model: typeof built, list: { idx: ArrayLike<number> }) =>
    Array.from(list.idx, (i) => model.itemIds[i]);

  it('holds every catalog item, in sorted order, with its category', () => {
    expect(served.itemIds).toEqual(['a', 'b', 'c', 'd', 'f', 'z']);
    expect(served.itemCategories).toEqual(['hats', 'shoes', '', 'shoes', 'hats', 'shoes']);
  });

  it('keeps the lists of the items with events, and gives the others none', () => {
    for (const kind of ['neighbors', 'boughtTogether'] as const) {
      const before = listsById(built, kind);
      expect(Object.values(before).some((entries) => entries.length > 0)).toBe(true);
      expect(listsById(served, kind)).toEqual({ ...before, a: [], c: [], z: [] });
    }
    expect(ids(served, served.popular)).toEqual(ids(built, built.popular));
    expect(ids(served, served.trending)).toEqual(ids(built, built.trending));
    for (const [category, list] of built.popularByCategory)
      expect(ids(served, served.popularByCategory.get(category)!)).toEqual(ids(built, list));
  });
});
