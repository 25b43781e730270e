import { ConfigError } from '@elevens/config';
import { DEFAULT_SERVING_SETTINGS } from '@elevens/recommender';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildEvaluationModel, type DatasetEvent, evaluationSettingsFrom, loadBuildConfig } from '../src';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);

const purchase = (userId: string, itemId: string, day: number): DatasetEvent => ({
  userId,
  itemId,
  type: 'purchase',
  timestamp: T0 + day * DAY,
});

/** The bought-together list of `itemId` the build would publish from `events` under `env`. */
function boughtTogetherOf(events: DatasetEvent[], env: NodeJS.ProcessEnv) {
  const settings = evaluationSettingsFrom(loadBuildConfig(env), { ...DEFAULT_SERVING_SETTINGS });
  const { assembled } = buildEvaluationModel(events, new Map(), settings);
  const { itemIds, boughtTogether } = assembled.model;
  return (itemId: string) => {
    const item = itemIds.indexOf(itemId);
    const [from, to] = [boughtTogether.ptr[item]!, boughtTogether.ptr[item + 1]!];
    return {
      ids: Array.from(boughtTogether.idx.subarray(from, to), (i) => itemIds[i]!),
      score: Array.from(boughtTogether.score).slice(from, to),
    };
  };
}

describe('bought-together minimum support (BUILD_BOUGHT_TOGETHER_MIN_SUPPORT)', () => {
  // `rare` was bought once, with the phone; the case was bought with the phone by three shoppers (and alone by ten).
  const events: DatasetEvent[] = [purchase('once', 'phone', 0), purchase('once', 'rare', 0)];
  for (let u = 0; u < 3; u++) events.push(purchase(`pair${u}`, 'phone', 1), purchase(`pair${u}`, 'case', 1));
  for (let u = 0; u < 10; u++) events.push(purchase(`solo${u}`, 'case', 2));

  it('defaults to 2: one co-purchase of a rare item does not top the list', () => {
    expect(loadBuildConfig({}).BUILD_BOUGHT_TOGETHER_MIN_SUPPORT).toBe(2);
    expect(boughtTogetherOf(events, {})('phone').ids).toEqual(['case']);
    expect(boughtTogetherOf(events, {})('rare').ids).toEqual([]);
  });

  it('is applied as set: 1 keeps every co-bought pair, 4 drops the case too', () => {
    expect(boughtTogetherOf(events, { BUILD_BOUGHT_TOGETHER_MIN_SUPPORT: '1' })('phone').ids).toEqual([
      'rare',
      'case',
    ]);
    expect(boughtTogetherOf(events, { BUILD_BOUGHT_TOGETHER_MIN_SUPPORT: '4' })('phone').ids).toEqual([]);
  });

  it('counts shoppers: one order carted before midnight UTC and paid for after it is not bought together', () => {
    const at = (userId: string, itemId: string, ms: number, type: string): DatasetEvent => ({
      userId,
      itemId,
      type,
      timestamp: ms,
    });
    const midnight = T0 + 5 * DAY;
    const oneOrder = [
      at('late', 'tent', midnight - 600_000, 'cart'),
      at('late', 'lamp', midnight - 500_000, 'cart'),
      at('late', 'tent', midnight + 300_000, 'purchase'),
      at('late', 'lamp', midnight + 300_000, 'purchase'),
      // The same shopper carts the pair again in a later session: still one shopper.
      { ...at('late', 'tent', midnight + 3 * DAY, 'cart'), sessionId: 's9' },
      { ...at('late', 'lamp', midnight + 3 * DAY, 'cart'), sessionId: 's9' },
    ];
    expect(boughtTogetherOf([...events, ...oneOrder], {})('tent').ids).toEqual([]);
    const second = [at('other', 'tent', midnight, 'purchase'), at('other', 'lamp', midnight, 'purchase')];
    expect(boughtTogetherOf([...events, ...oneOrder, ...second], {})('tent').ids).toEqual(['lamp']);
  });

  it('refuses values that are not whole numbers of at least 1', () => {
    for (const bad of ['0', '-1', '1.5', 'two', ''])
      expect(() => loadBuildConfig({ BUILD_BOUGHT_TOGETHER_MIN_SUPPORT: bad })).toThrow(
        /BUILD_BOUGHT_TOGETHER_MIN_SUPPORT/,
      );
    expect(() => loadBuildConfig({ BUILD_BOUGHT_TOGETHER_MIN_SUPPORT: '0' })).toThrow(ConfigError);
  });

  it('matches a brute force over the (user, UTC day) baskets of purchases, support in shoppers', () => {
    const eventsArb = fc.array(
      fc.record({
        user: fc.integer({ min: 0, max: 5 }),
        item: fc.integer({ min: 0, max: 5 }),
        day: fc.integer({ min: 0, max: 2 }),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 1, max: 4 }), (raw, minSupport) => {
        const events = raw.map(({ user, item, day }) => purchase(`u${user}`, `i${item}`, day));
        const baskets = new Map<string, Set<string>>();
        for (const { user, item, day } of raw) {
          const basket = baskets.get(`${user}/${day}`) ?? new Set<string>();
          basket.add(`i${item}`);
          baskets.set(`${user}/${day}`, basket);
        }
        const holdingBaskets = (...items: string[]) =>
          [...baskets].filter(([, basket]) => items.every((item) => basket.has(item)));
        const holding = (...items: string[]) => holdingBaskets(...items).length;
        const shoppers = (i: string, j: string) =>
          new Set(holdingBaskets(i, j).map(([key]) => key.split('/')[0])).size;
        const listOf = boughtTogetherOf(events, {
          BUILD_BOUGHT_TOGETHER_MIN_SUPPORT: String(minSupport),
        });
        const itemIds = [...new Set(events.map((e) => e.itemId))].sort();
        for (const i of itemIds) {
          const expected = itemIds
            .filter((j) => j !== i && shoppers(i, j) >= minSupport)
            .map((j) => ({ j, score: holding(i, j) / Math.sqrt(holding(i) * holding(j)) }))
            .sort((a, b) => b.score - a.score || (a.j < b.j ? -1 : 1));
          const got = listOf(i);
          expect(got.ids).toEqual(expected.map((e) => e.j));
          got.score.forEach((score, p) => {
            expect(score).toBeCloseTo(expected[p]!.score, 12);
          });
        }
      }),
      { numRuns: 200 },
    );
  });
});
