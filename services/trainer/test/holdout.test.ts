import { EVENT_TYPE_CODES, InteractionsBuilder, sortedNumbering } from '@elevens/algorithms';
import { type EvalCase, ndcgAtK, temporalLeaveLastOut } from '@elevens/evaluation';
import { DEFAULT_SERVING_SETTINGS } from '@elevens/recommender';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildEvaluationModel,
  builderOptionsFrom,
  buildHoldoutModel,
  chooseGateTarget,
  type DatasetEvent,
  evaluateReturnCases,
  evaluationSettingsFrom,
  gateSplit,
  loadBuildConfig,
  MIN_NEW_PURCHASE_SHARE,
  recentlySeenRanking,
  servedRanking,
  standardErrorOfMean,
  userSampleHash,
} from '../src';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const SEED = 42;

const config = (algorithm = 'cosine') =>
  loadBuildConfig({ BUILD_ALGORITHM: algorithm, BUILD_MIN_SUPPORT: '1', BUILD_SEED: String(SEED) });

/** The events as the build holds them: columns in input order, users and items numbered in sorted id order. */
function asBuilt(events: readonly DatasetEvent[], algorithm = 'cosine') {
  const firstSeen = (key: 'userId' | 'itemId') => {
    const index = new Map<string, number>();
    for (const e of events) if (!index.has(e[key])) index.set(e[key], index.size);
    return index;
  };
  const users = firstSeen('userId');
  const items = firstSeen('itemId');
  const referenceTimeMs = Math.max(...events.map((e) => e.timestamp));
  const builder = new InteractionsBuilder(
    builderOptionsFrom(config(algorithm), referenceTimeMs),
    events.length,
  );
  for (const e of events) {
    const type = EVENT_TYPE_CODES.indexOf(e.type as (typeof EVENT_TYPE_CODES)[number]);
    builder.add(users.get(e.userId)!, items.get(e.itemId)!, type, e.timestamp, -1);
  }
  const userNumbering = sortedNumbering([...users.keys()]);
  const itemNumbering = sortedNumbering([...items.keys()]);
  builder.renumber(userNumbering.index, itemNumbering.index);
  return {
    input: builder.build(users.size, items.size),
    events: builder.events(),
    userIds: userNumbering.ids,
    itemIds: itemNumbering.ids,
    referenceTimeMs,
  };
}

const brief = (cases: readonly EvalCase<DatasetEvent>[]) =>
  [...cases]
    .sort((a, b) => (a.userId < b.userId ? -1 : 1))
    .map((c) => ({
      userId: c.userId,
      target: c.target,
      cutoff: c.cutoff,
      heldOut: [...c.heldOut].sort(),
      history: c.history.map((e) => `${e.type}:${e.itemId}@${e.timestamp}`),
    }));

/** Brute force: the last cart or purchase of an item engaged with before (not by impression) and not yet bought. */
function returnTargets(events: readonly DatasetEvent[]): Map<string, DatasetEvent> {
  const byUser = new Map<string, DatasetEvent[]>();
  for (const e of events) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), e]);
  const targets = new Map<string, DatasetEvent>();
  for (const [userId, own] of byUser) {
    if (new Set(own.map((e) => e.itemId)).size < 3) continue;
    const ordered = own.map((e, i) => ({ e, i })).sort((a, b) => a.e.timestamp - b.e.timestamp || a.i - b.i);
    for (const { e } of ordered) {
      if (e.type !== 'cart' && e.type !== 'purchase') continue;
      const before = own.filter((o) => o.itemId === e.itemId && o.timestamp < e.timestamp);
      if (before.some((o) => o.type !== 'impression') && !before.some((o) => o.type === 'purchase'))
        targets.set(userId, e);
    }
  }
  return targets;
}

const options = (sampleUsers: number, returnUsers = sampleUsers) => ({
  sampleUsers,
  returnUsers,
  minDistinctItems: 3,
  seed: SEED,
});

const eventArb = (types: readonly string[]) =>
  fc.record({
    user: fc.integer({ min: 0, max: 9 }),
    item: fc.integer({ min: 0, max: 11 }),
    day: fc.integer({ min: 0, max: 20 }),
    type: fc.constantFrom(...types),
  });
const TYPES = ['view', 'view', 'cart', 'purchase', 'fav', 'impression'];

describe('gateSplit', () => {
  it('holds the cases temporalLeaveLastOut holds for the chosen target, and the return-to-it cases', () => {
    fc.assert(
      fc.property(fc.array(eventArb(TYPES), { minLength: 1, maxLength: 120 }), (raw) => {
        const events = raw.map(
          (r): DatasetEvent => ({
            userId: `u${r.user}`,
            itemId: `i${r.item}`,
            type: r.type,
            timestamp: T0 + r.day * DAY,
          }),
        );
        const built = asBuilt(events);
        const split = gateSplit(built.events, built, options(100));
        const targetType = split.protocol.target === 'purchase' ? { targetType: 'purchase' } : {};
        const expected = temporalLeaveLastOut(events, { minDistinctItems: 3, ...targetType });
        expect(brief(split.cases)).toEqual(brief(expected.cases));

        const returns = returnTargets(events);
        const sampled = new Set(split.cases.map((c) => c.userId));
        expect(split.returnCases.map((c) => [c.userId, c.target, c.cutoff]).sort()).toEqual(
          [...returns]
            .filter(([u]) => sampled.has(u))
            .map(([u, e]) => [u, e.itemId, e.timestamp])
            .sort(),
        );

        // No leakage: a sampled user's events from their earliest cutoff on are held out, nothing else is.
        const fromMs = new Map<string, number>();
        for (const c of [...split.cases, ...split.returnCases])
          fromMs.set(c.userId, Math.min(fromMs.get(c.userId) ?? Number.POSITIVE_INFINITY, c.cutoff));
        for (let e = 0; e < built.events.users.length; e++) {
          const from = fromMs.get(built.userIds[built.events.users[e]!]!);
          expect(split.heldOut[e]).toBe(from !== undefined && built.events.times[e]! >= from ? 1 : 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('samples the users with a case whose seeded id hashes are smallest, the same ones in every build', () => {
    const events: DatasetEvent[] = [];
    for (let u = 0; u < 200; u++)
      for (let k = 0; k < 4; k++)
        events.push({
          userId: `user-${u}`,
          itemId: `i${(u + k) % 30}`,
          type: 'view',
          timestamp: T0 + k * DAY,
        });
    const built = asBuilt(events);
    const split = gateSplit(built.events, built, options(25));
    const smallest = built.userIds
      .map((id) => ({ id, hash: userSampleHash(id, SEED) }))
      .sort((a, b) => a.hash - b.hash)
      .slice(0, 25)
      .map((u) => u.id);
    expect(split.cases.map((c) => c.userId).sort()).toEqual(smallest.sort());
    expect(split.protocol.target).toBe('any');
    // More users later: the sample only changes where a newcomer hashes below a sampled user.
    const later = asBuilt([...events, ...events.map((e) => ({ ...e, userId: `new-${e.userId}` }))]);
    const again = gateSplit(later.events, later, options(25));
    const kept = again.cases.filter((c) => !c.userId.startsWith('new-')).map((c) => c.userId);
    expect(kept.every((id) => smallest.includes(id))).toBe(true);
    expect(userSampleHash('user-1', SEED)).not.toBe(userSampleHash('user-1', SEED + 1));
  });

  it('scores the last new item of any type when purchases follow views of the same item', () => {
    const events: DatasetEvent[] = [];
    for (let u = 0; u < 20; u++) {
      const at = (k: number) => T0 + (u * 10 + k) * 60_000;
      events.push(
        { userId: `u${u}`, itemId: `a${u % 3}`, type: 'view', timestamp: at(0) },
        { userId: `u${u}`, itemId: `b${u % 4}`, type: 'view', timestamp: at(1) },
        { userId: `u${u}`, itemId: `c${u % 5}`, type: 'view', timestamp: at(2) },
        { userId: `u${u}`, itemId: `b${u % 4}`, type: 'cart', timestamp: at(3) },
        { userId: `u${u}`, itemId: `b${u % 4}`, type: 'purchase', timestamp: at(4) },
      );
    }
    const built = asBuilt(events);
    const split = gateSplit(built.events, built, options(100));
    expect(split.protocol).toMatchObject({ target: 'any', purchaseTargets: 20, newPurchaseTargets: 0 });
    expect(split.cases.every((c) => c.target.startsWith('c'))).toBe(true);
    expect(gateSplit(built.events, built, options(100, 5)).returnCases).toHaveLength(5);
    // The purchase of the carted item is where each user returned to it.
    expect(split.returnCases.map((c) => c.target).sort()).toEqual(
      split.cases.map((c) => `b${Number(c.userId.slice(1)) % 4}`).sort(),
    );
  });

  it('does not take buying again, or buying what was only shown, for a return', () => {
    const at = (day: number) => T0 + day * DAY;
    const events: DatasetEvent[] = [
      { userId: 'x', itemId: 'p', type: 'view', timestamp: at(0) },
      { userId: 'x', itemId: 'p', type: 'purchase', timestamp: at(1) },
      { userId: 'x', itemId: 'q', type: 'impression', timestamp: at(2) },
      { userId: 'x', itemId: 'r', type: 'view', timestamp: at(3) },
      { userId: 'x', itemId: 'q', type: 'cart', timestamp: at(4) },
      { userId: 'x', itemId: 'p', type: 'cart', timestamp: at(5) },
    ];
    const built = asBuilt(events);
    const split = gateSplit(built.events, built, options(10));
    expect(split.cases.map((c) => c.target)).toEqual(['r']);
    // The first purchase of p, viewed before, is the return; not the later cart of p, nor that of q.
    expect(split.returnCases.map((c) => [c.target, c.cutoff])).toEqual([['p', at(1)]]);
    const viewedFirst = asBuilt([...events, { userId: 'x', itemId: 'r', type: 'cart', timestamp: at(6) }]);
    const again = gateSplit(viewedFirst.events, viewedFirst, options(10));
    expect(again.returnCases.map((c) => [c.target, c.cutoff])).toEqual([['r', at(6)]]);
  });
});

describe('chooseGateTarget', () => {
  it('keeps purchase targets while at least half of them are new to their user', () => {
    expect(chooseGateTarget(0, 0)).toMatchObject({ target: 'any' });
    expect(chooseGateTarget(100, 50)).toMatchObject({ target: 'purchase', newPurchaseTargets: 50 });
    expect(MIN_NEW_PURCHASE_SHARE).toBe(0.5);
    const vacuous = chooseGateTarget(37_523, 55);
    expect(vacuous.target).toBe('any');
    expect(vacuous.reason).toContain('55 of 37523 purchase targets (0.1%) are new to their user');
    expect(vacuous.reason).toContain('would score zero whatever the model');
  });
});

describe('buildHoldoutModel', () => {
  it('is buildEvaluationModel of the events the split keeps', () => {
    const positive = ['view', 'view', 'cart', 'purchase', 'fav'];
    fc.assert(
      fc.property(
        fc.array(eventArb(positive), { minLength: 1, maxLength: 150 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom('cosine', 'swing', 'llr'),
        (raw, sampleUsers, algorithm) => {
          // Distinct instants; the newest event is a one-event user's, never sampled: "now" is the same both ways.
          const events = raw.map(
            (r, i): DatasetEvent => ({
              userId: `u${r.user}`,
              itemId: `i${r.item}`,
              type: r.type,
              timestamp: T0 + r.day * DAY + i * 1000,
            }),
          );
          events.push({ userId: 'late', itemId: 'i0', type: 'view', timestamp: T0 + 30 * DAY });
          const built = asBuilt(events, algorithm);
          const split = gateSplit(built.events, built, options(sampleUsers));
          const settings = evaluationSettingsFrom(config(algorithm), DEFAULT_SERVING_SETTINGS);
          const itemCategories = built.itemIds.map((id) => `c${Number(id.slice(1)) % 3}`);
          const holdout = buildHoldoutModel(
            built,
            built.events,
            split,
            { itemIds: built.itemIds, itemCategories },
            settings,
          );
          const train = events.filter((_, e) => split.heldOut[e] === 0);
          const categories = new Map(built.itemIds.map((id, i) => [id, itemCategories[i]!]));
          const expected = buildEvaluationModel(train, categories, settings);
          expect(holdout.view.itemIds).toEqual(expected.view.itemIds);
          expect(holdout.view.itemCategories).toEqual(expected.view.itemCategories);
          expect([...holdout.itemUsers]).toEqual([...expected.itemUsers]);
          const { neighbors } = holdout.assembled;
          expect([...neighbors.ptr]).toEqual([...expected.assembled.neighbors.ptr]);
          expect([...neighbors.idx]).toEqual([...expected.assembled.neighbors.idx]);
          expect([...neighbors.score]).toEqual([...expected.assembled.neighbors.score]);
          const lists = (model: typeof holdout) => ({
            popular: Array.from(model.view.popular.idx),
            trending: Array.from(model.view.trending.idx),
            byCategory: [...model.view.popularByCategory].map(([c, l]) => [c, Array.from(l.idx)]),
          });
          expect(lists(holdout)).toEqual(lists(expected));
          // Popularity is summed again, not patched: the scores are a rebuild's to the last bit.
          const scores = (model: typeof holdout) => ({
            popular: Array.from(model.view.popular.score),
            byCategory: [...model.view.popularByCategory].map(([c, l]) => [c, Array.from(l.score)]),
          });
          expect(scores(holdout)).toEqual(scores(expected));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('return-to-it figures', () => {
  const history = ['A', 'B', 'C'].map(
    (itemId, k): DatasetEvent => ({ userId: 't', itemId, type: 'view', timestamp: T0 + k * DAY }),
  );
  const evalCase: EvalCase<DatasetEvent> = {
    userId: 't',
    target: 'B',
    cutoff: T0 + 5 * DAY,
    heldOut: new Set(['B']),
    heldOutEvents: [{ userId: 't', itemId: 'B', type: 'cart', timestamp: T0 + 5 * DAY }],
    history: [...history, { userId: 't', itemId: 'A', type: 'purchase', timestamp: T0 + 4 * DAY }],
  };

  it('ranks the unbought history newest first as the recently-seen baseline', () => {
    expect(recentlySeenRanking(evalCase)).toEqual(['C', 'B']);
  });

  it('offers the unbought history through the serving code, never the bought items', () => {
    const others: DatasetEvent[] = [];
    for (let u = 0; u < 5; u++)
      for (const [k, itemId] of ['A', 'B', 'C', 'D'].entries())
        others.push({ userId: `o${u}`, itemId, type: 'view', timestamp: T0 + k * DAY });
    const settings = evaluationSettingsFrom(config(), DEFAULT_SERVING_SETTINGS);
    const model = buildEvaluationModel([...others, ...evalCase.history], new Map(), settings);
    expect(servedRanking(model, evalCase, DEFAULT_SERVING_SETTINGS)).toEqual(['D']);
    const offering = servedRanking(model, evalCase, { ...DEFAULT_SERVING_SETTINGS, offerSeen: true });
    expect([...offering].sort()).toEqual(['B', 'C', 'D']);
    const scores = evaluateReturnCases(model, [evalCase], DEFAULT_SERVING_SETTINGS);
    expect(scores.model).toMatchObject({ users: 1, hr10: 1 });
    expect(scores.model.ndcg10).toBeCloseTo(ndcgAtK(offering, 'B', 10), 12);
    expect(scores.recentlySeen).toMatchObject({ users: 1, hr10: 1, mrr10: 0.5 });
  });
});

describe('standardErrorOfMean', () => {
  it('is the sample standard deviation over √n', () => {
    // Values 0 and 1: mean 0.5, sample variance 0.5, SE √(0.5 / 2) = 0.5.
    expect(standardErrorOfMean(1, 1, 2)).toBeCloseTo(0.5, 12);
    // 0, 0, 0, 1: variance (1 − 1/4) / 3 = 0.25, SE √(0.25 / 4) = 0.25.
    expect(standardErrorOfMean(1, 1, 4)).toBeCloseTo(0.25, 12);
    expect(standardErrorOfMean(0.3, 0.09, 1)).toBe(0);
  });
});
