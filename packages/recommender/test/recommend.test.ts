import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { weighHistory } from '../src/history';
import { type RecommendInput, type RecommendSettings, recommend, weighUserHistory } from '../src/recommend';
import { activeRules } from '../src/rules';
import type { HistoryEvent, ModelView, ScoredList } from '../src/types';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 11);
const ITEM_IDS = ['shoe1', 'shoe2', 'shoe3', 'sock1', 'sock2', 'milk1', 'milk2', 'hat1'];
const CATEGORIES = ['shoes', 'shoes', 'shoes', 'socks', 'socks', 'grocery', 'grocery', 'hats'];
const at = (id: string) => ITEM_IDS.indexOf(id);
const list = (entries: [string, number][]): ScoredList => ({
  idx: entries.map(([id]) => at(id)),
  score: entries.map(([, s]) => s),
});

const model: ModelView = {
  itemIds: ITEM_IDS,
  itemIndex: new Map(ITEM_IDS.map((id, i) => [id, i])),
  itemCategories: CATEGORIES,
  popular: list([
    ['milk1', 9],
    ['hat1', 8],
    ['shoe3', 7],
  ]),
  trending: list([['sock2', 5]]),
  popularByCategory: new Map([
    [
      'shoes',
      list([
        ['shoe3', 3],
        ['shoe2', 2],
        ['shoe1', 1],
      ]),
    ],
    [
      'grocery',
      list([
        ['milk2', 2],
        ['milk1', 1],
      ]),
    ],
  ]),
};
const neighbors = new Map<string, ScoredList>([
  [
    'shoe1',
    list([
      ['shoe2', 0.9],
      ['sock1', 0.5],
    ]),
  ],
  ['milk1', list([['milk2', 0.8]])],
  ['hat1', list([['sock2', 0.7]])],
]);
const settings: RecommendSettings = {
  positionDecay: 0.6,
  sequenceShare: 1,
  halfLifeMs: 24 * HOUR,
  maxAnchors: 10,
  maxPerCategory: 10,
  repurchasableCategories: new Set(['grocery']),
};
const event = (type: string, itemId: string, ageHours = 1): HistoryEvent => ({
  type,
  itemId,
  timestampMs: NOW - ageHours * HOUR,
});
const input = ({
  history = [],
  ...overrides
}: Partial<RecommendInput> & { history?: HistoryEvent[] }): RecommendInput => ({
  model,
  historyWeights: weighUserHistory(history, settings),
  neighbors,
  purchased: new Set(),
  exclude: new Set(),
  isServable: () => true,
  limit: 3,
  offset: 0,
  settings,
  ...overrides,
});
const ids = (input: RecommendInput) => recommend(input).items.map((r) => r.itemId);

describe('recommend', () => {
  it('ranks the neighbours of the history, names the history item in because, and marks it personalized', () => {
    const result = recommend(input({ history: [event('view', 'shoe1')] }));
    expect(result.personalized).toBe(true);
    expect(result.items.slice(0, 2)).toEqual([
      { itemId: 'shoe2', score: expect.any(Number), source: 'personal', because: ['shoe1'] },
      { itemId: 'sock1', score: expect.any(Number), source: 'personal', because: ['shoe1'] },
    ]);
  });

  it('weights by type, sequence position and recency relative to the newest event: a fresh cart outranks an older view', () => {
    const history = [event('cart', 'hat1', 1), event('view', 'shoe1', 48)];
    expect(ids(input({ history, limit: 1 }))).toEqual(['sock2']);
    const weights = weighHistory(history, {
      positionDecay: 0.6,
      sequenceShare: 1,
      halfLifeMs: 24 * HOUR,
      maxAnchors: 5,
    });
    // hat1: 3 (newest, position 0); shoe1: 1 × 0.6 (position 1) × 0.5^(47 h / 24 h); normalised to sum to 1.
    const shoe = 0.6 * 0.5 ** (47 / 24);
    expect(weights.get('hat1')).toBeCloseTo(3 / (3 + shoe), 12);
    expect(weights.get('shoe1')).toBeCloseTo(shoe / (3 + shoe), 12);
    expect([...weighUserHistory(history, settings).keys()]).toEqual(['hat1', 'shoe1']);
  });

  it('never returns excluded, unservable or purchased items, nor what the user just viewed', () => {
    const result = ids(
      input({
        history: [event('view', 'shoe1'), event('purchase', 'hat1')],
        purchased: new Set(['hat1', 'shoe3']),
        exclude: new Set(['shoe2']),
        isServable: (id) => id !== 'sock1',
        limit: 8,
      }),
    );
    expect(result).toEqual(['sock2', 'milk1', 'milk2']);
  });

  it('lets purchased items of repurchasable categories come back', () => {
    const result = ids(
      input({ history: [event('purchase', 'milk1')], purchased: new Set(['milk1']), limit: 2 }),
    );
    expect(result).toEqual(['milk2', 'milk1']);
  });

  it("never offers the page's or the cart's own item back, even one bought in a repurchasable category", () => {
    const history = [event('purchase', 'milk1')];
    for (const offerSeen of [false, true])
      for (const source of ['similar', 'bought_together'] as const) {
        const result = ids(
          input({
            history,
            purchased: new Set(['milk1']),
            limit: ITEM_IDS.length,
            settings: { ...settings, offerSeen },
            context: { itemId: 'milk1', source, list: neighbors.get('milk1') },
          }),
        );
        expect(result).toContain('milk2');
        expect(result).not.toContain('milk1');
      }
    // Elsewhere the bought grocery item still comes back.
    expect(ids(input({ history, purchased: new Set(['milk1']), limit: ITEM_IDS.length }))).toContain('milk1');
  });

  it("names each history item once in because, also the page's item the user just viewed", () => {
    const history = [event('view', 'shoe1', 1), event('view', 'hat1', 2)];
    for (const source of ['similar', 'bought_together'] as const) {
      const result = recommend(
        input({ history, context: { itemId: 'shoe1', source, list: neighbors.get('shoe1') } }),
      );
      expect(result.items[0]).toMatchObject({ itemId: 'shoe2', because: ['shoe1'] });
      for (const item of result.items)
        expect(new Set(item.because).size, JSON.stringify(item)).toBe(item.because?.length ?? 0);
    }
    // The next history item takes the place a second naming would have taken.
    const both = recommend(
      input({
        history,
        neighbors: new Map([...neighbors, ['hat1', list([['shoe2', 0.1]])]]),
        context: { itemId: 'shoe1', source: 'similar', list: neighbors.get('shoe1') },
        settings: { ...settings, maxBecause: 2 },
      }),
    );
    expect(both.items[0]).toMatchObject({ itemId: 'shoe2', because: ['shoe1', 'hat1'] });
  });

  it('never names a history or page item that is now unservable in because, yet still draws on it', () => {
    const history = [event('view', 'shoe1', 1), event('view', 'hat1', 2)];
    const withHat = new Map([...neighbors, ['hat1', list([['shoe2', 0.1]])]]);
    const blocked = (id: string) => id !== 'shoe1';
    for (const offerSeen of [false, true]) {
      const common = {
        history,
        neighbors: withHat,
        limit: 4,
        settings: { ...settings, offerSeen, maxBecause: 2 },
      };
      const open = recommend(input(common)).items;
      const result = recommend(input({ ...common, isServable: blocked })).items;
      // Still ranked by the blocked item's neighbours, named by the servable history item alone.
      const shoe2 = result.find((r) => r.itemId === 'shoe2');
      expect(shoe2).toMatchObject({ because: ['hat1'] });
      expect(shoe2!.score).toBe(open.find((r) => r.itemId === 'shoe2')!.score);
      for (const item of result) expect(item.because ?? []).not.toContain('shoe1');
      // By model index too, as the api passes it.
      const byIndex = recommend(
        input({ ...common, isServable: blocked, unservable: new Set([at('shoe1')]) }),
      ).items;
      expect(byIndex).toEqual(result);
    }
    // The product page of a blocked item: its neighbours are shown, not named after it.
    const page = recommend(
      input({
        history,
        isServable: blocked,
        context: { itemId: 'shoe1', source: 'similar', list: neighbors.get('shoe1') },
      }),
    ).items;
    expect(page[0]).toMatchObject({ itemId: 'shoe2', because: [] });
    for (const item of page) expect(item.because ?? []).not.toContain('shoe1');
  });

  it('offers seen but unbought items where the placement asks (offerSeen), each scored by its own weight', () => {
    const history = [event('view', 'shoe1', 1), event('purchase', 'hat1', 2)];
    const base = { history, purchased: new Set(['hat1']), limit: 4 };
    expect(ids(input(base))).toEqual(['shoe2', 'sock2', 'sock1', 'shoe3']);
    const offering = { ...settings, offerSeen: true };
    const result = recommend(input({ ...base, settings: offering })).items;
    expect(result.map((r) => r.itemId)).toEqual(['shoe1', 'shoe2', 'sock2', 'sock1']);
    // shoe1 is the newest history item: it weighs as much as the heavier hat1 (0.6 × 5 × 0.5^(1/24)), so half.
    expect(result[0]).toEqual({
      itemId: 'shoe1',
      score: expect.any(Number),
      source: 'personal',
      because: ['shoe1'],
    });
    expect(result[0]!.score).toBeCloseTo(0.5, 12);
    // The product page's own item is never offered back; bought hat1 stays out.
    const onShoe2 = ids(
      input({
        ...base,
        limit: 8,
        settings: offering,
        context: { itemId: 'shoe2', source: 'similar', list: list([['shoe3', 0.6]]) },
      }),
    );
    expect(onShoe2).toContain('shoe1');
    expect(onShoe2).not.toContain('shoe2');
    expect(onShoe2).not.toContain('hat1');
  });

  it('blends the product page item neighbours (similar) with the history (personal)', () => {
    const result = recommend(
      input({
        history: [event('view', 'hat1')],
        context: { itemId: 'shoe1', source: 'similar', list: neighbors.get('shoe1') },
      }),
    );
    expect(result.items.map((r) => [r.itemId, r.source])).toEqual([
      ['shoe2', 'similar'],
      ['sock2', 'personal'],
      ['sock1', 'similar'],
    ]);
    expect(result.items[0]!.because).toEqual(['shoe1']);
  });

  it('uses the cart item bought-together list, falling back to its category first', () => {
    const result = recommend(
      input({
        context: { itemId: 'milk1', source: 'bought_together', list: list([['shoe2', 0.5]]) },
        limit: 3,
      }),
    );
    expect(result.personalized).toBe(false);
    expect(result.items.map((r) => [r.itemId, r.source])).toEqual([
      ['shoe2', 'bought_together'],
      ['milk2', 'popular'],
      ['sock2', 'trending'],
    ]);
  });

  it('fills a cold user from category-popular, trending, then popular', () => {
    const result = recommend(input({ category: 'shoes', limit: 3 }));
    expect(result.personalized).toBe(false);
    expect(result.items.map((r) => r.itemId)).toEqual(['shoe3', 'shoe2', 'shoe1']);
    expect(ids(input({ limit: 4 }))).toEqual(['sock2', 'milk1', 'hat1', 'shoe3']);
  });

  it('applies boosts and pins only inside their date windows', () => {
    const rules = {
      boosts: [{ category: 'hats', factor: 2, from: '2026-11-10T00:00:00Z', until: '2026-11-12T00:00:00Z' }],
      pins: [{ itemId: 'shoe1', position: 1, from: '2026-11-11T00:00:00Z', until: '2026-11-11T01:00:00Z' }],
    };
    // a boost re-orders within each source; the sources keep their order
    const during = ids(input({ rules: activeRules(rules, model, NOW), limit: 4 }));
    expect(during).toEqual(['shoe1', 'sock2', 'hat1', 'milk1']);
    const after = ids(input({ rules: activeRules(rules, model, Date.UTC(2026, 10, 12)), limit: 4 }));
    expect(after).toEqual(['sock2', 'milk1', 'hat1', 'shoe3']);
  });

  it('moves a backup pin to the position of a pinned item the user cannot be shown', () => {
    const rules = activeRules(
      {
        boosts: [],
        pins: [
          { itemId: 'shoe1', position: 1 },
          { itemId: 'shoe2', position: 1 },
        ],
      },
      model,
      NOW,
    );
    expect(ids(input({ rules, limit: 3 }))).toEqual(['shoe1', 'shoe2', 'sock2']);
    // Sold out (unservable) or already bought, the hero item leaves the first position to its backup.
    expect(ids(input({ rules, limit: 3, isServable: (id) => id !== 'shoe1' }))).toEqual([
      'shoe2',
      'sock2',
      'milk1',
    ]);
    expect(ids(input({ rules, limit: 3, purchased: new Set(['shoe1']) }))).toEqual([
      'shoe2',
      'sock2',
      'milk1',
    ]);
  });

  it('pins an item put since the build (not in the model) at its position, held to the same rules by its id', () => {
    const newItems = { categoryOf: (itemId: string) => (itemId === 'boot9' ? 'shoes' : undefined) };
    const rules = activeRules(
      {
        boosts: [],
        pins: [
          { itemId: 'boot9', position: 2 },
          { itemId: 'never-put', position: 1 },
        ],
      },
      model,
      NOW,
      newItems,
    );
    const unpinned = ids(input({ limit: 4 }));
    expect(ids(input({ rules, limit: 4 }))).toEqual([unpinned[0], 'boot9', ...unpinned.slice(1, 3)]);
    expect(ids(input({ rules, category: 'shoes', limit: 2 }))).toEqual(['shoe3', 'boot9']);
    for (const cannotShow of [
      { category: 'grocery' },
      { isServable: (id: string) => id !== 'boot9' },
      { exclude: new Set(['boot9']) },
      { purchased: new Set(['boot9']) },
      { history: [event('view', 'boot9')] },
      { context: { itemId: 'boot9', source: 'similar' as const, list: undefined } },
    ])
      expect(ids(input({ rules, limit: 4, ...cannotShow }))).not.toContain('boot9');
    // A pin it cannot show takes no position: the rest of the answer is the one without it.
    expect(ids(input({ rules, limit: 4, isServable: (id) => id !== 'boot9' }))).toEqual(unpinned);
    // Bought in a category bought again, or seen where the placement offers it, it still shows.
    const repurchasable = activeRules({ boosts: [], pins: [{ itemId: 'milk9', position: 1 }] }, model, NOW, {
      categoryOf: () => 'grocery',
    });
    expect(ids(input({ rules: repurchasable, purchased: new Set(['milk9']) }))[0]).toBe('milk9');
    const offered = { ...settings, offerSeen: true };
    expect(ids(input({ rules, settings: offered, history: [event('view', 'boot9')] }))[1]).toBe('boot9');
  });

  it('pages through every eligible item once, in the order of one long page', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...ITEM_IDS), { maxLength: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        (viewed, pageSize, maxPerCategory) => {
          const base = input({
            history: viewed.map((id, i) => event('view', id, i)),
            settings: { ...settings, maxPerCategory },
          });
          const all = ids({ ...base, limit: ITEM_IDS.length });
          const pages: string[] = [];
          let offset: number | undefined = 0;
          while (offset !== undefined) {
            const page = recommend({ ...base, limit: pageSize, offset });
            pages.push(...page.items.map((r) => r.itemId));
            offset = page.nextOffset;
          }
          expect(pages).toEqual(all);
          expect(new Set(pages).size).toBe(pages.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('answers a history of more anchors than an earlier call had, and one of fewer after it, each in full', () => {
    // 150 history items h0…h149 (h0 newest), each with one neighbour n<k> of its own, and no categories: every
    // anchor's neighbour is answered, by its anchor's weight, because of its anchor.
    const count = 150;
    const historyIds = Array.from({ length: count }, (_, k) => `h${k}`);
    const neighbourIds = historyIds.map((_, k) => `n${k}`);
    const itemIds = [...historyIds, ...neighbourIds];
    const wide: ModelView = {
      itemIds,
      itemIndex: new Map(itemIds.map((id, i) => [id, i])),
      itemCategories: itemIds.map(() => ''),
      popular: { idx: [], score: [] },
      trending: { idx: [], score: [] },
      popularByCategory: new Map(),
    };
    const ptr = [0];
    for (let k = 0; k < itemIds.length; k++) ptr.push(Math.min(k + 1, count));
    const lists = {
      get: () => undefined,
      packed: {
        ptr: Uint32Array.from(ptr),
        idx: Uint32Array.from(historyIds, (_, k) => count + k),
        score: Float32Array.from(historyIds, () => 1),
      },
    };
    const answerFor = (anchors: number) => {
      const history = historyIds.slice(0, anchors).map((id, k) => event('view', id, k));
      const wideSettings = { ...settings, sequenceShare: 0.5, maxAnchors: 200 };
      const historyWeights = weighUserHistory(history, wideSettings);
      const answer = recommend({
        ...input({}),
        model: wide,
        neighbors: lists,
        historyWeights,
        limit: anchors,
        settings: wideSettings,
      });
      return { answer, historyWeights };
    };
    const fewBefore = answerFor(3).answer;
    const { answer: many, historyWeights } = answerFor(count);
    expect(many.items).toHaveLength(count);
    const expected = [...historyWeights].map(([id, weight]) => ({
      itemId: `n${id.slice(1)}`,
      score: weight,
      source: 'personal',
      because: [id],
    }));
    expect(many.items).toEqual(expected);
    expect(answerFor(3).answer).toEqual(fewBefore);
  });

  it('answers the same from packed lists and unservable indexes as from lists by id and isServable', () => {
    const ptr = [0];
    const idx: number[] = [];
    const score: number[] = [];
    for (const id of ITEM_IDS) {
      const own = neighbors.get(id);
      for (let k = 0; k < (own?.idx.length ?? 0); k++) {
        idx.push(own!.idx[k]!);
        score.push(own!.score[k]!);
      }
      ptr.push(idx.length);
    }
    const packed = {
      get: (itemId: string) => neighbors.get(itemId),
      packed: { ptr: Uint32Array.from(ptr), idx: Uint32Array.from(idx), score: Float64Array.from(score) },
    };
    const someItems = fc.uniqueArray(fc.constantFrom(...ITEM_IDS), { maxLength: 3 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('view', 'cart', 'purchase'), fc.constantFrom(...ITEM_IDS)), {
          maxLength: 5,
        }),
        someItems,
        someItems,
        someItems,
        fc.boolean(),
        fc.integer({ min: 1, max: 3 }),
        (history, purchased, exclude, unservable, offerSeen, maxPerCategory) => {
          const byId = input({
            history: history.map(([type, id], i) => event(type, id, i)),
            purchased: new Set(purchased),
            exclude: new Set(exclude),
            isServable: (id) => !unservable.includes(id),
            limit: ITEM_IDS.length,
            settings: { ...settings, maxPerCategory, offerSeen },
          });
          const byIndex = { ...byId, neighbors: packed, unservable: new Set(unservable.map(at)) };
          expect(recommend(byIndex)).toEqual(recommend(byId));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('activeRules', () => {
  it("multiplies boosts of one target, keeps an item's first pin and the positions pins ask for", () => {
    const rules = activeRules(
      {
        boosts: [
          { itemId: 'hat1', factor: 2 },
          { itemId: 'hat1', factor: 1.5 },
          { itemId: 'unknown', factor: 3 },
        ],
        pins: [
          { itemId: 'shoe1', position: 1 },
          { itemId: 'shoe2', position: 1 },
          { itemId: 'shoe1', position: 5 },
        ],
      },
      model,
      NOW,
    );
    expect([...rules.itemFactor]).toEqual([[at('hat1'), 3]]);
    expect(rules.pins).toEqual([
      { itemIdx: at('shoe1'), position: 0 },
      { itemIdx: at('shoe2'), position: 0 },
    ]);
  });

  it('keeps a pin of an item the model does not hold only where the catalog serves it, with its category', () => {
    const pins = [
      { itemId: 'new1', position: 3 },
      { itemId: 'gone', position: 1 },
      { itemId: 'new1', position: 1 },
      { itemId: 'shoe1', position: 2 },
    ];
    const newItems = { categoryOf: (itemId: string) => (itemId === 'new1' ? '' : undefined) };
    expect(activeRules({ boosts: [], pins }, model, NOW, newItems).pins).toEqual([
      { itemIdx: -1, position: 2, newItem: { itemId: 'new1', category: '' } },
      { itemIdx: at('shoe1'), position: 1 },
    ]);
    expect(activeRules({ boosts: [], pins }, model, NOW).pins).toEqual([
      { itemIdx: at('shoe1'), position: 1 },
    ]);
    // A boost multiplies a score only the model gives: one of a new item is not kept.
    expect(
      activeRules({ boosts: [{ itemId: 'new1', factor: 2 }], pins: [] }, model, NOW, newItems).itemFactor
        .size,
    ).toBe(0);
  });

  it('treats from as inclusive and until as exclusive', () => {
    const boost = {
      category: 'hats',
      factor: 2,
      from: '2026-11-11T00:00:00Z',
      until: '2026-11-11T01:00:00Z',
    };
    const factorAt = (ms: number) =>
      activeRules({ boosts: [boost], pins: [] }, model, ms).categoryFactor.get('hats');
    expect(factorAt(NOW - 1)).toBeUndefined();
    expect(factorAt(NOW)).toBe(2);
    expect(factorAt(NOW + HOUR - 1)).toBe(2);
    expect(factorAt(NOW + HOUR)).toBeUndefined();
  });
});
