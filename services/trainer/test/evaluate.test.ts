import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hitRateAtK, mrrAtK, ndcgAtK, recallAtK } from '@elevens/evaluation';
import { DEFAULT_SERVING_SETTINGS } from '@elevens/recommender';
import { sharedDataFile, writeMovielensFixture, writeTaobaoFixture } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildEvaluationModel,
  type DatasetEvent,
  defaultProtocol,
  type EvaluationSettings,
  evaluateDataset,
  evaluateModel,
  evaluationSettingsFrom,
  loadBuildConfig,
  loadMovielens,
  loadTaobao,
  popularityOrder,
  popularityRanking,
  servedRanking,
  splitDataset,
} from '../src';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

const settingsFor = (algorithm: string, env: Record<string, string> = {}): EvaluationSettings =>
  evaluationSettingsFrom(loadBuildConfig({ BUILD_ALGORITHM: algorithm, ...env }), {
    ...DEFAULT_SERVING_SETTINGS,
  });

const ev = (userId: string, itemId: string, day: number, type = 'view'): DatasetEvent => ({
  userId,
  itemId,
  type,
  timestamp: T0 + day * DAY,
});

/**
 * Hand-made: a1..a4 view X and Z, b1..b4 view Y and Z (two items each: never a case), c1..c4 view P and Q, ten
 * users view only Pop. The test user t views X, then Y, then Q and Z at once: the one case, target Z (ties go to
 * the later event), history X and Y.
 * Z is X's and Y's only neighbour, so the served ranking puts it first; popularity ranks Pop (10 users) ahead
 * of Z (8 users).
 */
function handMade(): DatasetEvent[] {
  const events: DatasetEvent[] = [];
  for (let u = 1; u <= 4; u++) events.push(ev(`a${u}`, 'X', 1), ev(`a${u}`, 'Z', 2));
  for (let u = 1; u <= 4; u++) events.push(ev(`b${u}`, 'Y', 1), ev(`b${u}`, 'Z', 2));
  for (let u = 1; u <= 4; u++) events.push(ev(`c${u}`, 'P', 1), ev(`c${u}`, 'Q', 2));
  for (let u = 1; u <= 10; u++) events.push(ev(`p${u}`, 'Pop', 3));
  events.push(ev('t', 'X', 10), ev('t', 'Y', 11), ev('t', 'Q', 12), ev('t', 'Z', 12));
  return events;
}

describe('evaluateDataset', () => {
  it('ranks through the serving code and scores a hand-computed case', () => {
    const dataset = { name: 'hand', events: handMade(), itemCategories: new Map<string, string>() };
    const result = evaluateDataset(
      dataset,
      { kind: 'leave-last-out', minDistinctItems: 3 },
      settingsFor('cosine'),
    );
    // t's events at or after Z's day (Z and Q) are held out: target Z, recall over {Z, Q}.
    expect(result.model).toMatchObject({ users: 1, hr10: 1, ndcg10: 1, mrr10: 1 });
    expect(result.trainEvents).toBe(dataset.events.length - 2);
    expect(result.catalogItems).toBe(6);
    expect(result.popularity.users).toBe(1);
    expect(result.popularity.hr10).toBe(1);
    expect(result.popularity.ndcg10).toBeCloseTo(1 / Math.log2(3), 12);
    expect(result.popularity.mrr10).toBe(0.5);
    // The served list holds Z, then the fallbacks Pop, P, Q: both held-out items are in its top 20.
    expect(result.model.recall20).toBe(1);
    // The anchors X and Y are never served back: 4 of the 6 catalog items appear in the top 10.
    expect(result.model.coverage10).toBeCloseTo(4 / 6, 12);
  });

  it('builds the model without the held-out events: an item only the target user had cannot be in it', () => {
    const events = [...handMade().filter((e) => e.itemId !== 'Z' || e.userId !== 't'), ev('t', 'New', 12)];
    const split = splitDataset(events, { kind: 'leave-last-out', minDistinctItems: 3 });
    expect(split.cases.map((c) => c.target)).toEqual(['New']);
    const model = buildEvaluationModel(split.train, new Map(), settingsFor('cosine'));
    expect(model.view.itemIndex.has('New')).toBe(false);
    expect(evaluateModel(model, split, DEFAULT_SERVING_SETTINGS).model.hr10).toBe(0);
  });

  it('keeps what serving excludes out of the ranking: purchased items and the anchors', () => {
    const events = [...handMade(), ev('t', 'Pop', 9, 'purchase')];
    const split = splitDataset(events, { kind: 'leave-last-out', minDistinctItems: 3 });
    const model = buildEvaluationModel(split.train, new Map(), settingsFor('swing'));
    const ranking = servedRanking(model, split.cases[0]!, DEFAULT_SERVING_SETTINGS);
    expect(ranking).not.toContain('Pop');
    expect(ranking).not.toContain('X');
    expect(ranking).not.toContain('Y');
    expect(ranking[0]).toBe('Z');
  });

  it('with target purchase, picks the last purchased new item when the data has purchases', () => {
    const events = [...handMade(), ev('t', 'P', 13, 'purchase'), ev('t', 'Q', 14)];
    const dataset = { name: 'hand', events, itemCategories: new Map<string, string>() };
    const protocol = defaultProtocol(dataset, 'auto');
    expect(protocol).toEqual({ kind: 'leave-last-out', minDistinctItems: 3, targetType: 'purchase' });
    expect(splitDataset(events, protocol).cases.map((c) => c.target)).toEqual(['P']);
    expect(defaultProtocol(dataset, 'any')).toEqual({ kind: 'leave-last-out', minDistinctItems: 3 });
  });

  it('averages exactly the per-user metrics of the served and popularity rankings (random data)', () => {
    const eventArb = fc.record({
      user: fc.integer({ min: 0, max: 7 }),
      item: fc.integer({ min: 0, max: 11 }),
      day: fc.integer({ min: 0, max: 20 }),
      purchase: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(eventArb, { minLength: 1, maxLength: 80 }),
        fc.constantFrom('cosine', 'swing'),
        (raw, algorithm) => {
          const events = raw.map((r) =>
            ev(`u${r.user}`, `i${r.item}`, r.day, r.purchase ? 'purchase' : 'view'),
          );
          const split = splitDataset(events, { kind: 'leave-last-out', minDistinctItems: 3 });
          const settings = settingsFor(algorithm, { BUILD_MIN_SUPPORT: '1' });
          const model = buildEvaluationModel(split.train, new Map(), settings);
          const result = evaluateModel(model, split, settings.serving);
          const order = popularityOrder(model.itemUsers);
          const sums = { hr: 0, ndcg: 0, mrr: 0, recall: 0, popHr: 0 };
          const trainItems = new Set(split.train.map((e) => e.itemId));
          for (const c of split.cases) {
            const served = servedRanking(model, c, settings.serving);
            expect(new Set(served).size).toBe(served.length);
            for (const id of served) expect(trainItems.has(id)).toBe(true);
            for (const e of c.history) if (e.type === 'purchase') expect(served).not.toContain(e.itemId);
            sums.hr += hitRateAtK(served, c.target, 10);
            sums.ndcg += ndcgAtK(served, c.target, 10);
            sums.mrr += mrrAtK(served, c.target, 10);
            sums.recall += recallAtK(served, c.heldOut, 20);
            sums.popHr += hitRateAtK(popularityRanking(model, order, c), c.target, 10);
          }
          const n = split.cases.length;
          const mean = (sum: number) => (n === 0 ? 0 : sum / n);
          expect(result.model.users).toBe(n);
          expect(result.model.hr10).toBeCloseTo(mean(sums.hr), 12);
          expect(result.model.ndcg10).toBeCloseTo(mean(sums.ndcg), 12);
          expect(result.model.mrr10).toBeCloseTo(mean(sums.mrr), 12);
          expect(result.model.recall20).toBeCloseTo(mean(sums.recall), 12);
          expect(result.popularity.hr10).toBeCloseTo(mean(sums.popHr), 12);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('popularityOrder', () => {
  it('orders items by users, most first, ties by index', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 200 }), (counts) => {
        const itemUsers = Uint32Array.from(counts);
        const expected = counts.map((_, i) => i).sort((a, b) => counts[b]! - counts[a]! || a - b);
        expect([...popularityOrder(itemUsers)]).toEqual(expected);
      }),
    );
  });
});

/** A file in a real dataset's format: a generated fixture always, the real slice when ../shared/data has it. */
interface DatasetFile {
  label: string;
  path: () => string;
  /** lines read: fewer than the file holds, so reading a slice is tested too */
  maxLines: number;
}

const realFile = (dataset: 'movielens' | 'taobao', label: string, maxLines: number): DatasetFile[] => {
  const path = sharedDataFile(dataset);
  return path === null ? [] : [{ label, path: () => path, maxLines }];
};

describe('file datasets', () => {
  let fixtures: string;
  beforeAll(() => {
    fixtures = mkdtempSync(join(tmpdir(), 'elevens-evaluate-'));
    writeMovielensFixture(join(fixtures, 'u.data'), { lines: 2_500, users: 150, items: 300, seed: 17 });
    writeTaobaoFixture(join(fixtures, 'UserBehavior.csv'), {
      lines: 3_000,
      users: 600,
      items: 400,
      seed: 17,
    });
  });
  afterAll(() => {
    rmSync(fixtures, { recursive: true, force: true });
  });

  const movielensFiles: DatasetFile[] = [
    { label: 'a generated fixture', path: () => join(fixtures, 'u.data'), maxLines: 2_000 },
    ...realFile('movielens', 'MovieLens 100K', 5_000),
  ];
  const taobaoFiles: DatasetFile[] = [
    { label: 'a generated fixture', path: () => join(fixtures, 'UserBehavior.csv'), maxLines: 2_500 },
    ...realFile('taobao', 'the Taobao slice', 20_000),
  ];

  for (const file of movielensFiles) {
    it(`evaluates the first ${file.maxLines} MovieLens ratings of ${file.label}`, async () => {
      const dataset = await loadMovielens(file.path(), { maxLines: file.maxLines });
      expect(dataset.events).toHaveLength(file.maxLines);
      expect(new Set(dataset.events.map((e) => e.type))).toEqual(new Set(['purchase', 'view']));
      const protocol = defaultProtocol(dataset, 'any');
      const result = evaluateDataset(dataset, protocol, settingsFor('swing'));
      const eligible = new Map<string, Set<string>>();
      for (const e of dataset.events)
        eligible.set(e.userId, (eligible.get(e.userId) ?? new Set()).add(e.itemId));
      const withThree = [...eligible.values()].filter((items) => items.size >= 3).length;
      expect(result.model.users).toBeGreaterThan(0);
      expect(result.model.users).toBeLessThanOrEqual(withThree);
      for (const summary of [result.model, result.popularity]) {
        for (const key of ['hr10', 'ndcg10', 'recall20', 'mrr10', 'coverage10'] as const) {
          expect(summary[key]).toBeGreaterThanOrEqual(0);
          expect(summary[key]).toBeLessThanOrEqual(1);
        }
      }
      expect(result.model.ndcg10).toBeLessThanOrEqual(result.model.hr10);
    });
  }

  for (const file of taobaoFiles) {
    it(`evaluates the first ${file.maxLines} Taobao events of ${file.label}, next-event`, async () => {
      const dataset = await loadTaobao(file.path(), { maxLines: file.maxLines });
      expect(dataset.events).toHaveLength(file.maxLines);
      expect(dataset.itemCategories.size).toBeGreaterThan(0);
      const result = evaluateDataset(dataset, { kind: 'next-event', minEvents: 2 }, settingsFor('swing'));
      expect(result.model.users).toBeGreaterThan(0);
      expect(result.model.users).toBe(result.popularity.users);
      expect(result.model.hr10).toBeLessThanOrEqual(1);
    });
  }
});
