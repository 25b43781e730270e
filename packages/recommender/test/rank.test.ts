import type { RecommendationSource } from '@elevens/domain';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rankItems } from '../src/rank';
import { activeRules, NO_RULES } from '../src/rules';
import type { ActiveRules, Anchor, ModelView, Recommendation, ScoredList } from '../src/types';

interface PlainList {
  idx: number[];
  score: number[];
}

interface Scenario {
  numItems: number;
  categories: string[];
  anchors: {
    itemIdx: number;
    weight: number;
    list: PlainList;
    source: Anchor['source'];
    unservable: boolean;
  }[];
  popular: PlainList;
  trending: PlainList;
  popularByCategory: Map<string, PlainList>;
  excluded: Set<number>;
  count: number;
  category: string | undefined;
  fallbackCategories: string[];
  maxPerCategory: number;
  boosts: { category?: string; itemId?: string; factor: number }[];
  pins: { itemId: string; position: number }[];
}

const CATEGORY_NAMES = ['', 'a', 'b', 'c'];

const listArb = (numItems: number): fc.Arbitrary<PlainList> =>
  fc.uniqueArray(fc.integer({ min: 0, max: numItems - 1 }), { maxLength: numItems }).chain((idx) =>
    fc.array(fc.constantFrom(0.25, 0.5, 1, 2), { minLength: idx.length, maxLength: idx.length }).map((s) => ({
      idx,
      // scored lists come best first
      score: [...s].sort((x, y) => y - x),
    })),
  );

/** Scenarios of up to `maxItems` items and `maxAnchors` anchors. */
const scenarioArbOf = (maxItems: number, maxAnchors: number): fc.Arbitrary<Scenario> =>
  fc.integer({ min: 1, max: maxItems }).chain((numItems) =>
    fc.record({
      numItems: fc.constant(numItems),
      categories: fc.array(fc.constantFrom(...CATEGORY_NAMES), { minLength: numItems, maxLength: numItems }),
      anchors: fc.array(
        fc.record({
          itemIdx: fc.integer({ min: 0, max: numItems - 1 }),
          weight: fc.constantFrom(0.5, 1, 3),
          list: listArb(numItems),
          source: fc.constantFrom<Anchor['source']>('personal', 'similar', 'bought_together'),
          unservable: fc.boolean(),
        }),
        { maxLength: maxAnchors },
      ),
      popular: listArb(numItems),
      trending: listArb(numItems),
      popularByCategory: fc.tuple(listArb(numItems), listArb(numItems)).map(
        ([a, b]) =>
          new Map([
            ['a', a],
            ['b', b],
          ]),
      ),
      excluded: fc.uniqueArray(fc.integer({ min: 0, max: numItems - 1 })).map((x) => new Set(x)),
      count: fc.integer({ min: 1, max: numItems + 2 }),
      category: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
      fallbackCategories: fc.uniqueArray(fc.constantFrom('a', 'b', 'c'), { maxLength: 2 }),
      maxPerCategory: fc.integer({ min: 1, max: 3 }),
      boosts: fc.array(
        fc.oneof(
          fc.record({ category: fc.constantFrom('a', 'b'), factor: fc.constantFrom(0.5, 1.5, 3) }),
          fc.record({
            itemId: fc.integer({ min: 0, max: numItems - 1 }).map((i) => `i${i}`),
            factor: fc.constantFrom(0.5, 2),
          }),
        ),
        { maxLength: 3 },
      ),
      pins: fc.array(
        fc.record({
          itemId: fc.integer({ min: 0, max: numItems - 1 }).map((i) => `i${i}`),
          position: fc.integer({ min: 1, max: Math.min(numItems + 1, 3) }),
        }),
        { maxLength: 3 },
      ),
    }),
  );

const scenarioArb = scenarioArbOf(12, 4);

function modelOf(s: Scenario): ModelView {
  const itemIds = Array.from({ length: s.numItems }, (_, i) => `i${i}`);
  return {
    itemIds,
    itemIndex: new Map(itemIds.map((id, i) => [id, i])),
    itemCategories: s.categories,
    popular: s.popular,
    trending: s.trending,
    popularByCategory: s.popularByCategory,
  };
}

const rulesOf = (s: Scenario, model: ModelView): ActiveRules =>
  activeRules({ boosts: s.boosts, pins: s.pins }, model, 0);

function run(s: Scenario): Recommendation[] {
  const model = modelOf(s);
  return rankItems({
    model,
    anchors: s.anchors.map((a) => ({
      itemIdx: a.itemIdx,
      weight: a.weight,
      neighbors: a.list,
      source: a.source,
      unservable: a.unservable,
    })),
    isExcluded: (idx) => s.excluded.has(idx),
    count: s.count,
    ...(s.category === undefined ? {} : { category: s.category }),
    fallbackCategories: s.fallbackCategories,
    maxPerCategory: s.maxPerCategory,
    rules: rulesOf(s, model),
  });
}

/** The same ranking written the slow, obvious way: one preference sequence, then greedy passes over it. */
function bruteForce(s: Scenario): Recommendation[] {
  const model = modelOf(s);
  const rules = rulesOf(s, model);
  const factor = (i: number) =>
    s.boosts.reduce(
      (f, b) =>
        f *
        (b.itemId === `i${i}` || (b.category !== undefined && b.category === s.categories[i]) ? b.factor : 1),
      1,
    );
  const eligible = (i: number) =>
    !s.excluded.has(i) && (s.category === undefined || s.categories[i] === s.category);
  const pinned = new Set(rules.pins.map((p) => p.itemIdx));
  const sequence: Recommendation[] = [];
  const candidates: {
    i: number;
    score: number;
    from: { idx: number; amount: number; source: Anchor['source']; unservable: boolean }[];
  }[] = [];
  for (let i = 0; i < s.numItems; i++) {
    if (!eligible(i) || pinned.has(i)) continue;
    const from: { idx: number; amount: number; source: Anchor['source']; unservable: boolean }[] = [];
    for (const a of s.anchors)
      a.list.idx.forEach((item, k) => {
        if (item === i)
          from.push({
            idx: a.itemIdx,
            amount: a.weight * a.list.score[k]!,
            source: a.source,
            unservable: a.unservable,
          });
      });
    if (from.length === 0) continue;
    candidates.push({ i, score: from.reduce((t, f) => t + f.amount, 0) * factor(i), from });
  }
  candidates.sort((x, y) => y.score - x.score || x.i - y.i);
  for (const c of candidates) {
    const from = [...c.from].sort((x, y) => y.amount - x.amount || x.idx - y.idx);
    sequence.push({
      itemId: `i${c.i}`,
      score: c.score,
      source: from[0]!.source,
      // each servable anchor item named once, by its largest contribution
      because: [...new Set(from.filter((f) => !f.unservable).map((f) => `i${f.idx}`))].slice(0, 3),
    });
  }
  const addList = (list: PlainList | undefined, source: RecommendationSource) => {
    if (!list) return;
    const entries = list.idx.map((i, k) => ({ i, score: list.score[k]! * factor(i), k }));
    entries.sort((x, y) => y.score - x.score || x.k - y.k);
    for (const e of entries) sequence.push({ itemId: `i${e.i}`, score: e.score, source });
  };
  const categories = s.category === undefined ? s.fallbackCategories : [s.category];
  for (const c of categories) addList(s.popularByCategory.get(c), 'popular');
  addList(s.trending, 'trending');
  addList(s.popular, 'popular');
  for (let i = 0; i < s.numItems; i++) sequence.push({ itemId: `i${i}`, score: 0, source: 'popular' });

  // Pins in the rules' order, an item's first only: each shown one at the first position from the one it asks
  // for that no earlier shown pin took.
  const pins: { itemIdx: number; position: number }[] = [];
  const pinnedOnce = new Set<number>();
  for (const pin of s.pins) {
    const i = Number(pin.itemId.slice(1));
    if (pinnedOnce.has(i)) continue;
    pinnedOnce.add(i);
    if (!eligible(i)) continue;
    let position = pin.position - 1;
    while (pins.some((p) => p.position === position)) position++;
    pins.push({ itemIdx: i, position });
  }
  pins.sort((a, b) => a.position - b.position);
  const wanted = s.count - pins.filter((p) => p.position < s.count).length;
  const chosen: Recommendation[] = [];
  const cap = s.category === undefined ? s.maxPerCategory : Number.POSITIVE_INFINITY;
  for (const capped of [true, false]) {
    for (const r of sequence) {
      const i = Number(r.itemId.slice(1));
      if (chosen.length >= wanted) break;
      if (!eligible(i) || pinned.has(i) || chosen.some((c) => c.itemId === r.itemId)) continue;
      const category = s.categories[i]!;
      const inCategory = chosen.filter(
        (c) => category !== '' && s.categories[Number(c.itemId.slice(1))] === category,
      );
      if (capped && inCategory.length >= cap) continue;
      chosen.push(r);
    }
  }
  for (const pin of pins) {
    const position = Math.min(pin.position, chosen.length);
    if (position >= s.count) break;
    const score = chosen[position]?.score ?? chosen[position - 1]?.score ?? 0;
    chosen.splice(position, 0, { itemId: `i${pin.itemIdx}`, score, source: 'pinned' });
  }
  return chosen;
}

const plainScores = (items: Recommendation[]) =>
  items.map((r) => ({ ...r, score: Number(r.score.toFixed(9)) }));

describe('rankItems', () => {
  it('matches the brute-force ranking on small random inputs', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        expect(plainScores(run(s))).toEqual(plainScores(bruteForce(s)));
      }),
      { numRuns: 400 },
    );
  });

  it('matches the brute-force ranking on larger inputs, call after call', () => {
    // Dozens of items named per answer: their look-ups collide, and each call must leave none of its state behind.
    fc.assert(
      fc.property(scenarioArbOf(200, 8), (s) => {
        expect(plainScores(run(s))).toEqual(plainScores(bruteForce(s)));
      }),
      { numRuns: 150 },
    );
  });

  it('returns min(count, eligible) distinct eligible items, capped per category unless too few', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const items = run(s);
        const indexes = items.map((r) => Number(r.itemId.slice(1)));
        const eligible = [...Array(s.numItems).keys()].filter(
          (i) => !s.excluded.has(i) && (s.category === undefined || s.categories[i] === s.category),
        );
        expect(new Set(indexes).size).toBe(indexes.length);
        expect(items.length).toBe(Math.min(s.count, eligible.length));
        for (const i of indexes) expect(eligible).toContain(i);
        if (s.category !== undefined || s.pins.length > 0) return;
        const perCategory = new Map<string, number>();
        for (const i of indexes)
          if (s.categories[i] !== '')
            perCategory.set(s.categories[i]!, (perCategory.get(s.categories[i]!) ?? 0) + 1);
        if ([...perCategory.values()].some((n) => n > s.maxPerCategory)) {
          // the cap was relaxed: no answer of this length could have kept it
          const byCategory = new Map<string, number>();
          let uncategorised = 0;
          for (const i of eligible)
            if (s.categories[i] === '') uncategorised++;
            else byCategory.set(s.categories[i]!, (byCategory.get(s.categories[i]!) ?? 0) + 1);
          const cappedSupply = [...byCategory.values()].reduce(
            (t, n) => t + Math.min(n, s.maxPerCategory),
            uncategorised,
          );
          expect(cappedSupply).toBeLessThan(s.count);
        }
      }),
      { numRuns: 400 },
    );
  });
});

const tiny: ModelView = {
  itemIds: ['a1', 'a2', 'a3', 'b1', 'b2', 'c1'],
  itemIndex: new Map(['a1', 'a2', 'a3', 'b1', 'b2', 'c1'].map((id, i) => [id, i])),
  itemCategories: ['a', 'a', 'a', 'b', 'b', 'c'],
  popular: { idx: [5, 4, 3, 2, 1, 0], score: [6, 5, 4, 3, 2, 1] },
  trending: { idx: [3], score: [9] },
  popularByCategory: new Map<string, ScoredList>([['a', { idx: [2, 1, 0], score: [3, 2, 1] }]]),
};
const ids = (items: Recommendation[]) => items.map((r) => r.itemId);

describe('rankItems fallbacks and rules', () => {
  it('fills category-popular, then trending, then popular, then the rest of the catalog', () => {
    const items = rankItems({
      model: tiny,
      anchors: [],
      isExcluded: () => false,
      count: 6,
      fallbackCategories: ['a'],
      maxPerCategory: 10,
    });
    expect(items.map((r) => [r.itemId, r.source])).toEqual([
      ['a3', 'popular'],
      ['a2', 'popular'],
      ['a1', 'popular'],
      ['b1', 'trending'],
      ['c1', 'popular'],
      ['b2', 'popular'],
    ]);
  });

  it('reaches items in no list by sweeping the catalog', () => {
    const bare: ModelView = { ...tiny, popular: { idx: [], score: [] }, trending: { idx: [], score: [] } };
    expect(
      ids(rankItems({ model: bare, anchors: [], isExcluded: (i) => i === 0, count: 3, maxPerCategory: 10 })),
    ).toEqual(['a2', 'a3', 'b1']);
  });

  it('keeps at most maxPerCategory of a category while others are eligible', () => {
    const items = rankItems({
      model: tiny,
      anchors: [],
      isExcluded: () => false,
      count: 4,
      maxPerCategory: 1,
    });
    expect(ids(items)).toEqual(['b1', 'c1', 'a3', 'b2']);
  });

  it('boosts a category and pins an item', () => {
    const rules = activeRules(
      { boosts: [{ category: 'a', factor: 10 }], pins: [{ itemId: 'c1', position: 2 }] },
      tiny,
      0,
    );
    const items = rankItems({
      model: tiny,
      anchors: [],
      isExcluded: () => false,
      count: 4,
      maxPerCategory: 10,
      rules,
    });
    expect(ids(items)).toEqual(['b1', 'c1', 'a3', 'a2']);
  });

  it('labels pinned items pinned, whichever list or neighbour would have brought them', () => {
    // c1 leads popular, b1 trending, a2 is a candidate; new1 is a catalog item put after the build.
    const rules = activeRules(
      {
        boosts: [],
        pins: [
          { itemId: 'c1', position: 1 },
          { itemId: 'b1', position: 3 },
          { itemId: 'a2', position: 4 },
          { itemId: 'new1', position: 6 },
        ],
      },
      tiny,
      0,
      { categoryOf: (itemId) => (itemId === 'new1' ? 'c' : undefined) },
    );
    const anchors: Anchor[] = [
      { itemIdx: 0, weight: 1, neighbors: { idx: [1, 3], score: [0.9, 0.5] }, source: 'similar' },
    ];
    const items = rankItems({
      model: tiny,
      anchors,
      isExcluded: (i) => i === 0,
      count: 6,
      maxPerCategory: 10,
      rules,
    });
    expect(items.map((r) => [r.itemId, r.source])).toEqual([
      ['c1', 'pinned'],
      ['b2', 'popular'],
      ['b1', 'pinned'],
      ['a2', 'pinned'],
      ['a3', 'popular'],
      ['new1', 'pinned'],
    ]);
  });

  it('gives the position of a pin that cannot be shown to the next pin asking for it', () => {
    const rules = activeRules(
      {
        boosts: [],
        pins: [
          { itemId: 'c1', position: 1 },
          { itemId: 'b2', position: 1 },
          { itemId: 'a1', position: 1 },
        ],
      },
      tiny,
      0,
    );
    const rank = (excluded: Set<number>) =>
      ids(
        rankItems({
          model: tiny,
          anchors: [],
          isExcluded: (i) => excluded.has(i),
          count: 4,
          maxPerCategory: 10,
          rules,
        }),
      );
    // The hero pin sold out: its backup leads, the next backup follows.
    expect(rank(new Set([5]))).toEqual(['b2', 'a1', 'b1', 'a3']);
    // Both earlier pins out: the last one still leads.
    expect(rank(new Set([5, 4]))).toEqual(['a1', 'b1', 'a3', 'a2']);
    expect(rank(new Set())).toEqual(['c1', 'b2', 'a1', 'b1']);
  });

  it('never lets a pin bring back an excluded item', () => {
    const rules = activeRules({ boosts: [], pins: [{ itemId: 'c1', position: 1 }] }, tiny, 0);
    const items = rankItems({
      model: tiny,
      anchors: [],
      isExcluded: (i) => i === 5,
      count: 3,
      maxPerCategory: 10,
      rules,
    });
    expect(ids(items)).not.toContain('c1');
    expect(items).toHaveLength(3);
  });

  it('keeps scores finite however many ×100 boosts stack on one item and its category', () => {
    const stacked = Array.from({ length: 200 }, () => ({ factor: 100 }));
    const rules = activeRules(
      {
        boosts: [
          ...stacked.map((b) => ({ ...b, itemId: 'b2' })),
          ...stacked.map((b) => ({ ...b, category: 'b' })),
        ],
        pins: [],
      },
      tiny,
      0,
    );
    const anchors: Anchor[] = [
      { itemIdx: 0, weight: 1, neighbors: { idx: [3, 4], score: [0.5, 0.9] }, source: 'personal' },
    ];
    const items = rankItems({
      model: tiny,
      anchors,
      isExcluded: (i) => i < 1,
      count: 3,
      maxPerCategory: 10,
      rules,
    });
    expect(ids(items).slice(0, 2)).toEqual(['b2', 'b1']);
    for (const item of items) expect(Number.isFinite(item.score)).toBe(true);
  });

  it('scores anchor neighbours by weight × similarity and names the anchors in because', () => {
    const anchors: Anchor[] = [
      { itemIdx: 0, weight: 2, neighbors: { idx: [3, 4], score: [0.5, 0.4] }, source: 'personal' },
      { itemIdx: 1, weight: 1, neighbors: { idx: [4], score: [0.9] }, source: 'personal' },
    ];
    const items = rankItems({
      model: tiny,
      anchors,
      isExcluded: (i) => i < 2,
      count: 2,
      maxPerCategory: 10,
      rules: NO_RULES,
    });
    expect(items[0]).toEqual({
      itemId: 'b2',
      score: expect.closeTo(1.7, 9),
      source: 'personal',
      because: ['a2', 'a1'],
    });
    expect(items[1]).toEqual({
      itemId: 'b1',
      score: expect.closeTo(1, 9),
      source: 'personal',
      because: ['a1'],
    });
  });
});
