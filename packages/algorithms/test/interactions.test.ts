import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Baskets,
  type BuildInputOptions,
  DEFAULT_TYPE_WEIGHTS,
  InteractionsBuilder,
} from '../src/interactions';
import { seededHash } from '../src/sampling';
import { EVENT_TYPE_CODES, type EventTypeName, eventTypeCode, type Interactions } from '../src/types';
import { close } from './support';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const REFERENCE = Date.UTC(2024, 5, 1, 5);

interface RawEvent {
  user: number;
  item: number;
  type: number;
  ts: number;
  session: number;
}

interface Scenario {
  numUsers: number;
  numItems: number;
  events: RawEvent[];
  opts: BuildInputOptions;
}

const weightArb = fc.constantFrom(0, 1, 2.5);
const typeWeightsArb = fc.oneof(
  fc.constant({ ...DEFAULT_TYPE_WEIGHTS }),
  fc.record({
    view: weightArb,
    cart: weightArb,
    remove_cart: weightArb,
    purchase: weightArb,
    fav: weightArb,
    impression: weightArb,
    click: weightArb,
  }),
);

const scenarioArbOf = (maxUsers: number, maxEvents: number): fc.Arbitrary<Scenario> =>
  fc
    .record({ numUsers: fc.integer({ min: 1, max: maxUsers }), numItems: fc.integer({ min: 1, max: 5 }) })
    .chain(({ numUsers, numItems }) =>
      fc.record({
        numUsers: fc.constant(numUsers),
        numItems: fc.constant(numItems),
        events: fc.array(
          fc.record({
            user: fc.integer({ min: 0, max: numUsers - 1 }),
            item: fc.integer({ min: 0, max: numItems - 1 }),
            type: fc.integer({ min: 0, max: EVENT_TYPE_CODES.length - 1 }),
            // Whole hours, some in the future, often repeated (ties at the recency cap), across several UTC days.
            ts: fc
              .oneof(fc.constantFrom(-2, 0, 5, 30, 50), fc.integer({ min: -3, max: 24 * 6 }))
              .map((hoursAgo) => REFERENCE - hoursAgo * HOUR),
            session: fc.integer({ min: -1, max: 3 }),
          }),
          { maxLength: maxEvents },
        ),
        opts: fc.record({
          typeWeights: typeWeightsArb,
          halfLifeDays: fc.constantFrom(0.5, 1, 7, Number.POSITIVE_INFINITY),
          referenceTimeMs: fc.constant(REFERENCE),
          maxItemsPerUser: fc.integer({ min: 1, max: 4 }),
          maxUsersPerItem: fc.integer({ min: 1, max: 4 }),
          seed: fc.integer({ min: 0, max: 1000 }),
          trendingRecentHours: fc.constantFrom(6, 24),
          trendingBaselineHours: fc.constantFrom(48, 96),
        }),
      }),
    );
const scenarioArb = scenarioArbOf(5, 40);

function build(scenario: Scenario, events = scenario.events) {
  const builder = new InteractionsBuilder(scenario.opts);
  for (const e of events) builder.add(e.user, e.item, e.type, e.ts, e.session);
  expect(builder.eventCount).toBe(events.length);
  return builder.build(scenario.numUsers, scenario.numItems);
}

function typeWeight(opts: BuildInputOptions, type: number): number {
  return opts.typeWeights[EVENT_TYPE_CODES[type] as EventTypeName];
}

function decayed(opts: BuildInputOptions, e: RawEvent): number {
  return (
    typeWeight(opts, e.type) * 0.5 ** (Math.max(0, opts.referenceTimeMs - e.ts) / (opts.halfLifeDays * DAY))
  );
}

interface PlainEntry {
  weight: number;
  latest: number;
  primary: boolean;
}

/** The spec written out with Maps: aggregate, per-user recency cap, then per-item seeded sample. */
function bruteInteractions({ numUsers, numItems, events, opts }: Scenario): Map<number, PlainEntry>[] {
  const users = Array.from({ length: numUsers }, () => new Map<number, PlainEntry>());
  for (const e of events) {
    if (typeWeight(opts, e.type) === 0) continue;
    const entry = users[e.user]!.get(e.item) ?? {
      weight: 0,
      latest: Number.NEGATIVE_INFINITY,
      primary: false,
    };
    entry.weight += decayed(opts, e);
    entry.latest = Math.max(entry.latest, e.ts);
    entry.primary ||= e.type === eventTypeCode('cart') || e.type === eventTypeCode('purchase');
    users[e.user]!.set(e.item, entry);
  }
  for (const entries of users) {
    const ranked = [...entries].sort((a, b) => b[1].latest - a[1].latest || a[0] - b[0]);
    for (const [item] of ranked.slice(opts.maxItemsPerUser)) entries.delete(item);
  }
  for (let item = 0; item < numItems; item++) {
    const holders = users.flatMap((entries, u) => (entries.has(item) ? [u] : []));
    const ranked = holders.sort(
      (a, b) => seededHash(opts.seed, item, a) - seededHash(opts.seed, item, b) || a - b,
    );
    for (const u of ranked.slice(opts.maxUsersPerItem)) users[u]!.delete(item);
  }
  return users;
}

function rowsOf(x: Interactions) {
  return Array.from({ length: x.numUsers }, (_, u) => {
    const row = [];
    for (let q = x.userPtr[u]!; q < x.userPtr[u + 1]!; q++) {
      row.push({ item: x.itemIdx[q]!, weight: x.weight[q]!, primary: x.primary[q] === 1 });
    }
    return row;
  });
}

function expectRowsMatch(actual: Interactions, expected: Map<number, PlainEntry>[]): void {
  const rows = rowsOf(actual);
  expect(rows.length).toBe(expected.length);
  rows.forEach((row, u) => {
    const want = [...expected[u]!].sort((a, b) => a[0] - b[0]);
    expect(row.map((e) => e.item)).toEqual(want.map(([item]) => item));
    row.forEach((e, p) => {
      expect(close(e.weight, want[p]![1].weight), `user ${u} item ${e.item} weight`).toBe(true);
      expect(e.primary).toBe(want[p]![1].primary);
    });
  });
}

function bruteBaskets(events: RawEvent[]): { user: number; items: number[] }[] {
  const baskets = new Map<string, { order: number[]; user: number; items: Set<number> }>();
  for (const e of events) {
    if (e.type !== eventTypeCode('cart') && e.type !== eventTypeCode('purchase')) continue;
    const day = Math.floor(e.ts / DAY);
    // Sessions first (ascending, then by user), then (user, day) ascending.
    const order = e.session >= 0 ? [0, e.session, e.user] : [1, e.user, day];
    const key = order.join(':');
    const basket = baskets.get(key) ?? { order, user: e.user, items: new Set<number>() };
    basket.items.add(e.item);
    baskets.set(key, basket);
  }
  return [...baskets.values()]
    .sort((a, b) => a.order[0]! - b.order[0]! || a.order[1]! - b.order[1]! || a.order[2]! - b.order[2]!)
    .map((basket) => ({ user: basket.user, items: [...basket.items].sort((a, b) => a - b) }));
}

function basketsAsArrays({ ptr, itemIdx, users }: Baskets): { user: number; items: number[] }[] {
  return Array.from({ length: ptr.length - 1 }, (_, b) => ({
    user: users[b]!,
    items: [...itemIdx.subarray(ptr[b]!, ptr[b + 1]!)],
  }));
}

describe('InteractionsBuilder', () => {
  it('matches the brute-force aggregation, caps, primary flags, users per item, popularity, trending and baskets', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { opts, events, numItems } = scenario;
        const result = build(scenario);
        expectRowsMatch(result.interactions, bruteInteractions(scenario));

        // Per item and user: the heaviest decayed weight of the user's events of the item.
        const heaviestDecayed = new Map<string, number>();
        // Per window, item and user: the heaviest type weight of the user's events of the item.
        const heaviest = { recent: new Map<string, number>(), baseline: new Map<string, number>() };
        for (const e of events) {
          const key = `${e.item}:${e.user}`;
          heaviestDecayed.set(key, Math.max(heaviestDecayed.get(key) ?? 0, decayed(opts, e)));
          const hoursAgo = (opts.referenceTimeMs - e.ts) / HOUR;
          const window =
            hoursAgo >= 0 && hoursAgo < opts.trendingRecentHours
              ? heaviest.recent
              : hoursAgo >= opts.trendingRecentHours && hoursAgo < opts.trendingBaselineHours
                ? heaviest.baseline
                : null;
          window?.set(key, Math.max(window.get(key) ?? 0, typeWeight(opts, e.type)));
        }
        const perItem = (byUser: Map<string, number>, term: (weight: number) => number) => {
          const sums = new Array<number>(numItems).fill(0);
          for (const [key, weight] of byUser) sums[Number(key.split(':')[0])]! += term(weight);
          return sums;
        };
        const popularity = perItem(heaviestDecayed, (w) => w);
        for (let i = 0; i < numItems; i++)
          expect(close(result.itemPopularity[i]!, popularity[i]!)).toBe(true);
        const recent = perItem(heaviest.recent, (w) => w);
        for (let i = 0; i < numItems; i++) expect(close(result.trendingRecent[i]!, recent[i]!)).toBe(true);
        const baseline = perItem(heaviest.baseline, (w) => w);
        for (let i = 0; i < numItems; i++)
          expect(close(result.trendingBaseline[i]!, baseline[i]!)).toBe(true);
        expect([...result.trendingRecentUsers]).toEqual(perItem(heaviest.recent, (w) => (w > 0 ? 1 : 0)));
        expect(basketsAsArrays(result.baskets)).toEqual(bruteBaskets(events));
        const holders = Array.from({ length: numItems }, () => new Set<number>());
        for (const e of events) if (typeWeight(opts, e.type) > 0) holders[e.item]!.add(e.user);
        expect([...result.itemUsers]).toEqual(holders.map((users) => users.size));
      }),
      { numRuns: 400 },
    );
  });

  it('matches the brute-force aggregation for users with long histories (sorted differently from short ones)', () => {
    fc.assert(
      fc.property(scenarioArbOf(2, 150), (scenario) => {
        expectRowsMatch(build(scenario).interactions, bruteInteractions(scenario));
      }),
      { numRuns: 100 },
    );
  });

  it('gives the same result whatever the event order', () => {
    fc.assert(
      fc.property(
        scenarioArb.chain((s) =>
          fc.tuple(fc.constant(s), fc.shuffledSubarray(s.events, { minLength: s.events.length })),
        ),
        ([scenario, shuffled]) => {
          const a = build(scenario);
          const b = build(scenario, shuffled);
          expectRowsMatch(
            b.interactions,
            rowsOf(a.interactions).map(
              (row) => new Map(row.map((e) => [e.item, { weight: e.weight, latest: 0, primary: e.primary }])),
            ),
          );
          expect(basketsAsArrays(b.baskets)).toEqual(basketsAsArrays(a.baskets));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('sums weights, popularity and trending counts to the same bits whatever the event order', () => {
    // Two builds of the same events read in another order must publish the same model, down to the last bit.
    const fractionalWeights = fc.record({
      view: fc.constantFrom(0.1, 1),
      cart: fc.constantFrom(0.3, 3),
      remove_cart: fc.constant(0),
      purchase: fc.constantFrom(0.7, 5),
      fav: fc.constantFrom(0.2, 2),
      impression: fc.constant(0),
      click: fc.constantFrom(0.1, 1),
    });
    fc.assert(
      fc.property(
        scenarioArbOf(3, 60)
          .chain((s) => fractionalWeights.map((typeWeights) => ({ ...s, opts: { ...s.opts, typeWeights } })))
          .chain((s) =>
            fc.tuple(fc.constant(s), fc.shuffledSubarray(s.events, { minLength: s.events.length })),
          ),
        ([scenario, shuffled]) => {
          const a = build(scenario);
          const b = build(scenario, shuffled);
          expect([...b.interactions.weight]).toEqual([...a.interactions.weight]);
          expect([...b.itemPopularity]).toEqual([...a.itemPopularity]);
          expect([...b.trendingRecent]).toEqual([...a.trendingRecent]);
          expect([...b.trendingBaseline]).toEqual([...a.trendingBaseline]);
          expect([...b.trendingRecentUsers]).toEqual([...a.trendingRecentUsers]);
        },
      ),
      { numRuns: 300 },
    );
  });

  const baseOptions: BuildInputOptions = {
    typeWeights: { ...DEFAULT_TYPE_WEIGHTS },
    halfLifeDays: 7,
    referenceTimeMs: REFERENCE,
    maxItemsPerUser: 100,
    maxUsersPerItem: 100,
    seed: 1,
    trendingRecentHours: 24,
    trendingBaselineHours: 24 * 8,
  };

  it('halves a weight per half-life, weights by type, ignores impressions and counts future events as fresh', () => {
    const builder = new InteractionsBuilder(baseOptions);
    builder.add(0, 0, eventTypeCode('purchase'), REFERENCE - 7 * DAY);
    builder.add(0, 0, eventTypeCode('view'), REFERENCE - 14 * DAY);
    builder.add(0, 1, eventTypeCode('impression'), REFERENCE);
    builder.add(0, 2, eventTypeCode('fav'), REFERENCE + HOUR);
    const { interactions, itemPopularity } = builder.build(1, 3);
    expect([...interactions.itemIdx]).toEqual([0, 2]);
    expect(interactions.weight[0]).toBeCloseTo(5 * 0.5 + 1 * 0.25, 12);
    expect(interactions.weight[1]).toBeCloseTo(2, 12);
    expect([...interactions.primary]).toEqual([1, 0]);
    // Item 0's shopper counts once, by the heavier of their two events: the purchase a half-life ago.
    expect([...itemPopularity]).toEqual([2.5, 0, 2]);
  });

  it('counts a shopper once per item in popularity: a thousand purchases by one buyer weigh as one', () => {
    const builder = new InteractionsBuilder(baseOptions);
    // A reseller buys item 0 a thousand times today; two shoppers each view item 1 once.
    for (let k = 0; k < 1000; k++) builder.add(0, 0, eventTypeCode('purchase'), REFERENCE - k * 1000);
    builder.add(1, 1, eventTypeCode('view'), REFERENCE);
    builder.add(2, 1, eventTypeCode('view'), REFERENCE);
    // Two shoppers buy item 2 once each.
    builder.add(3, 2, eventTypeCode('purchase'), REFERENCE);
    builder.add(4, 2, eventTypeCode('purchase'), REFERENCE);
    const { itemPopularity } = builder.build(5, 3);
    // The reseller is one purchase (the weight of the freshest), whatever the count.
    expect([...itemPopularity]).toEqual([5, 2, 10]);
  });

  it('counts a user once per item in each trending window, by their heaviest event', () => {
    const builder = new InteractionsBuilder(baseOptions);
    // One shopper views item 0 fifty times in the last hour and carts it; item 1 is viewed once by two shoppers.
    for (let k = 0; k < 50; k++) builder.add(0, 0, eventTypeCode('view'), REFERENCE - HOUR + k * 1000);
    builder.add(0, 0, eventTypeCode('cart'), REFERENCE - HOUR);
    builder.add(1, 1, eventTypeCode('view'), REFERENCE - HOUR);
    builder.add(2, 1, eventTypeCode('view'), REFERENCE - HOUR);
    // The baseline window too: twenty views of item 0 by one shopper two days ago.
    for (let k = 0; k < 20; k++) builder.add(1, 0, eventTypeCode('view'), REFERENCE - 2 * DAY + k * 1000);
    const { trendingRecent, trendingBaseline, trendingRecentUsers } = builder.build(3, 2);
    expect([...trendingRecent]).toEqual([3, 2]);
    expect([...trendingBaseline]).toEqual([1, 0]);
    expect([...trendingRecentUsers]).toEqual([1, 2]);
  });

  it('keeps a user’s most recent distinct items, judged by each item’s latest event', () => {
    const builder = new InteractionsBuilder({ ...baseOptions, maxItemsPerUser: 2 });
    builder.add(0, 0, eventTypeCode('view'), REFERENCE - 5 * HOUR);
    builder.add(0, 1, eventTypeCode('view'), REFERENCE - 4 * HOUR);
    builder.add(0, 2, eventTypeCode('view'), REFERENCE - 3 * HOUR);
    builder.add(0, 0, eventTypeCode('cart'), REFERENCE - 1 * HOUR);
    expect([...builder.build(1, 3).interactions.itemIdx]).toEqual([0, 2]);
  });

  it('samples exactly maxUsersPerItem users of a popular item, the same sample for the same seed', () => {
    const sample = (seed: number) => {
      const builder = new InteractionsBuilder({ ...baseOptions, maxUsersPerItem: 10, seed });
      for (let u = 0; u < 60; u++) {
        builder.add(u, 0, eventTypeCode('view'), REFERENCE - u * HOUR);
        builder.add(u, 1, eventTypeCode('view'), REFERENCE - u * HOUR);
      }
      builder.add(0, 2, eventTypeCode('view'), REFERENCE);
      const x = builder.build(60, 3).interactions;
      const holders = (item: number) =>
        rowsOf(x).flatMap((row, u) => (row.some((e) => e.item === item) ? [u] : []));
      expect(holders(0)).toHaveLength(10);
      expect(holders(1)).toHaveLength(10);
      expect(holders(2)).toEqual([0]);
      return holders(0);
    };
    expect(sample(7)).toEqual(sample(7));
    expect(sample(7)).not.toEqual(sample(8));
  });

  it('rejects indexes beyond numUsers / numItems and unknown event types', () => {
    const builder = new InteractionsBuilder(baseOptions);
    builder.add(3, 0, 0, REFERENCE);
    expect(() => builder.build(2, 1)).toThrow(RangeError);
    expect(() => builder.add(0, 0, EVENT_TYPE_CODES.length, REFERENCE)).toThrow(RangeError);
  });
});
