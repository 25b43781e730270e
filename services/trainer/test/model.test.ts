import { DEFAULT_SERVING_SETTINGS } from '@elevens/recommender';
import { describe, expect, it } from 'vitest';
import {
  buildEvaluationModel,
  type DatasetEvent,
  evaluationSettingsFrom,
  loadBuildConfig,
  servedRanking,
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
