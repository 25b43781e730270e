import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  catalogCoverage,
  formatMetricTable,
  hitRateAtK,
  MetricAccumulator,
  mrrAtK,
  ndcgAtK,
  rankOf,
  recallAtK,
} from '../src/index';

const ranked = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'] as const;

describe('single-target metrics', () => {
  it('scores a target at rank 0 as a perfect hit', () => {
    expect(rankOf(ranked, 'a', 10)).toBe(0);
    expect(hitRateAtK(ranked, 'a', 10)).toBe(1);
    expect(ndcgAtK(ranked, 'a', 10)).toBe(1);
    expect(mrrAtK(ranked, 'a', 10)).toBe(1);
  });

  it('scores a target at rank 3 with NDCG 1/log2(5) and MRR 1/4', () => {
    expect(hitRateAtK(ranked, 'd', 10)).toBe(1);
    expect(ndcgAtK(ranked, 'd', 10)).toBeCloseTo(0.430676558073393, 12);
    expect(mrrAtK(ranked, 'd', 10)).toBe(0.25);
  });

  it('scores zero when the target is beyond k or absent', () => {
    // 'k' sits at rank 10: outside the top 10, inside the top 11 (NDCG 1/log2(12), MRR 1/11).
    expect(hitRateAtK(ranked, 'k', 10)).toBe(0);
    expect(ndcgAtK(ranked, 'k', 10)).toBe(0);
    expect(mrrAtK(ranked, 'k', 10)).toBe(0);
    expect(hitRateAtK(ranked, 'k', 11)).toBe(1);
    expect(ndcgAtK(ranked, 'k', 11)).toBeCloseTo(0.27894294565113, 12);
    expect(mrrAtK(ranked, 'k', 11)).toBeCloseTo(1 / 11, 15);
    expect(hitRateAtK(ranked, 'z', 10)).toBe(0);
    expect(ndcgAtK(ranked, 'z', 10)).toBe(0);
    expect(mrrAtK(ranked, 'z', 10)).toBe(0);
    expect(hitRateAtK(ranked, 'a', 0)).toBe(0);
    expect(hitRateAtK([], 'a', 10)).toBe(0);
  });

  it('accepts dense numeric ids in a Uint32Array', () => {
    const indexes = new Uint32Array([7, 3, 9]);
    expect(hitRateAtK(indexes, 9, 2)).toBe(0);
    expect(hitRateAtK(indexes, 9, 3)).toBe(1);
    expect(ndcgAtK(indexes, 9, 3)).toBe(0.5);
    expect(mrrAtK(indexes, 9, 10)).toBeCloseTo(1 / 3, 15);
  });

  it('rejects a negative or fractional k', () => {
    expect(() => hitRateAtK(ranked, 'a', -1)).toThrow(RangeError);
    expect(() => recallAtK(ranked, new Set(['a']), 2.5)).toThrow(RangeError);
  });

  it('agrees with brute-force DCG and reciprocal rank on random unique lists', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { maxLength: 25 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 25 }),
        (list, target, k) => {
          let dcg = 0;
          let reciprocalRank = 0;
          list.slice(0, k).forEach((id, i) => {
            if (id === target) {
              dcg += 1 / Math.log2(i + 2);
              reciprocalRank = 1 / (i + 1);
            }
          });
          expect(ndcgAtK(list, target, k)).toBeCloseTo(dcg, 12);
          expect(mrrAtK(list, target, k)).toBeCloseTo(reciprocalRank, 12);
          expect(hitRateAtK(list, target, k)).toBe(dcg > 0 ? 1 : 0);
        },
      ),
    );
  });
});

describe('recallAtK', () => {
  it('counts the held-out items found in the top k', () => {
    const relevant = new Set(['b', 'd', 'x']);
    expect(recallAtK(['a', 'b', 'c', 'd'], relevant, 2)).toBeCloseTo(1 / 3, 15);
    expect(recallAtK(['a', 'b', 'c', 'd'], relevant, 4)).toBeCloseTo(2 / 3, 15);
    expect(recallAtK(['a', 'b', 'c', 'd'], new Set<string>(), 4)).toBe(0);
  });

  it('counts a repeated id once', () => {
    expect(recallAtK(['b', 'b', 'd'], new Set(['b', 'd']), 2)).toBe(0.5);
  });

  it('agrees with a brute-force set intersection', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 20 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 20 }),
        (list, relevantIds, k) => {
          const relevant = new Set(relevantIds);
          const top = new Set(list.slice(0, k));
          const expected = [...relevant].filter((id) => top.has(id)).length / relevant.size;
          expect(recallAtK(Uint32Array.from(list), relevant, k)).toBeCloseTo(expected, 12);
        },
      ),
    );
  });
});

describe('catalogCoverage', () => {
  it('divides the distinct items of all top-k lists by the catalog size', () => {
    const lists = [['a', 'b', 'c'], ['b', 'c', 'd'], ['e']];
    expect(catalogCoverage(lists, 10, 2)).toBe(0.4);
    expect(catalogCoverage(lists, 10, 3)).toBe(0.5);
    expect(catalogCoverage([], 10, 3)).toBe(0);
    expect(catalogCoverage(lists, 0, 3)).toBe(0);
  });

  it('accepts any iterable of numeric lists', () => {
    function* lists() {
      yield new Uint32Array([1, 2]);
      yield new Uint32Array([2, 3]);
    }
    expect(catalogCoverage(lists(), 8, 10)).toBe(0.375);
  });
});

describe('MetricAccumulator', () => {
  it('averages per-user metrics and measures top-10 coverage', () => {
    const acc = new MetricAccumulator(20);
    acc.add(['a', 'b', 'c'], 'a', new Set(['a']));
    acc.add(['x', 'y', 'z', 'a'], 'a', new Set(['a', 'q']));
    acc.add(['m'], 'n', new Set(['n']));
    const s = acc.summary();
    expect(s.users).toBe(3);
    expect(s.hr10).toBeCloseTo(2 / 3, 15);
    expect(s.ndcg10).toBeCloseTo((1 + 1 / Math.log2(5)) / 3, 15);
    expect(s.mrr10).toBeCloseTo(1.25 / 3, 15);
    expect(s.recall20).toBeCloseTo(1.5 / 3, 15);
    // a b c x y z m
    expect(s.coverage10).toBe(0.35);
  });

  it('scores recall on the top 20 but hits and coverage on the top 10', () => {
    const list = Array.from({ length: 25 }, (_, i) => i);
    const acc = new MetricAccumulator<number>(100);
    acc.add(list, 15, new Set([15, 0]));
    const s = acc.summary();
    expect(s.hr10).toBe(0);
    expect(s.ndcg10).toBe(0);
    expect(s.mrr10).toBe(0);
    expect(s.recall20).toBe(1);
    expect(s.coverage10).toBe(0.1);
  });

  it('reports zeros before anything is added', () => {
    expect(new MetricAccumulator(5).summary()).toEqual({
      users: 0,
      hr10: 0,
      ndcg10: 0,
      recall20: 0,
      mrr10: 0,
      coverage10: 0,
    });
  });
});

describe('formatMetricTable', () => {
  it('renders a Markdown table with four decimals and escaped names', () => {
    const table = formatMetricTable([
      {
        name: 'item-knn | llr',
        summary: { users: 943, hr10: 0.21, ndcg10: 0.1, recall20: 0.333333, mrr10: 0.08, coverage10: 0.5 },
      },
    ]);
    expect(table).toBe(
      [
        '| Model | Users | HR@10 | NDCG@10 | Recall@20 | MRR@10 | Coverage@10 |',
        '| :--- | ---: | ---: | ---: | ---: | ---: | ---: |',
        '| item-knn \\| llr | 943 | 0.2100 | 0.1000 | 0.3333 | 0.0800 | 0.5000 |',
      ].join('\n'),
    );
  });
});
