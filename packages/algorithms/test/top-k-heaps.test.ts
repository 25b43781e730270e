import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scoreCoOccurringPairs } from '../src/cooccurrence';
import { pairCapacities, TopKHeap, TopKHeaps } from '../src/top-k';
import { plainInteractionsArb, toInteractions } from './support';

/** Rows (users, baskets) of distinct items over `numItems`, in CSR form as the passes read them. */
const rowsArb = fc.integer({ min: 1, max: 12 }).chain((numItems) =>
  fc.record({
    numItems: fc.constant(numItems),
    rows: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: numItems - 1 }), { maxLength: 6 }), {
      maxLength: 14,
    }),
  }),
);

const toCsr = (rows: number[][]) => {
  const ptr = new Uint32Array(rows.length + 1);
  const items: number[] = [];
  rows.forEach((row, r) => {
    items.push(...[...row].sort((a, b) => a - b));
    ptr[r + 1] = items.length;
  });
  return { ptr, itemIdx: Uint32Array.from(items) };
};

describe('pairCapacities', () => {
  it('gives each item room for every partner in minSupport of its rows, up to k, and none to an item in no row', () => {
    fc.assert(
      fc.property(
        rowsArb,
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        ({ numItems, rows }, k, minSupport) => {
          const { ptr, itemIdx } = toCsr(rows);
          const capacities = pairCapacities(ptr, itemIdx, numItems, k, minSupport);
          for (let i = 0; i < numItems; i++) {
            let partners = 0;
            for (let j = 0; j < numItems; j++)
              if (j !== i && rows.filter((row) => row.includes(i) && row.includes(j)).length >= minSupport)
                partners++;
            expect(capacities[i]).toBeGreaterThanOrEqual(Math.min(k, partners));
            expect(capacities[i]).toBeLessThanOrEqual(k);
            if (!rows.some((row) => row.includes(i))) expect(capacities[i]).toBe(0);
          }
        },
      ),
    );
  });

  it('allocates for the items rows pair, not k for every item', () => {
    // 10 of 200,000 items carted, in baskets of 3: at k = 500 the heaps held 200,000 × 500 pairs (1.2 GB).
    const rows = Array.from({ length: 40 }, (_, r) => [r % 10, (r + 1) % 10, (r + 3) % 10]);
    const { ptr, itemIdx } = toCsr(rows);
    const heaps = new TopKHeaps(pairCapacities(ptr, itemIdx, 200_000, 500, 1));
    expect(heaps.allocated).toBeLessThanOrEqual(10 * 9);
  });
});

describe('TopKHeaps', () => {
  it('drains what one TopKHeap(k) per owner drains, with each heap only as large as its offers', () => {
    const offersArb = fc.integer({ min: 1, max: 5 }).chain((owners) =>
      fc.record({
        owners: fc.constant(owners),
        k: fc.integer({ min: 0, max: 5 }),
        // Scores from a small alphabet, so ties are ordered by index.
        offers: fc.uniqueArray(
          fc.record({
            owner: fc.integer({ min: 0, max: owners - 1 }),
            index: fc.integer({ min: 0, max: 20 }),
            score: fc.constantFrom(0.25, 0.5, 1, 2),
          }),
          { selector: (offer) => `${offer.owner}:${offer.index}`, maxLength: 40 },
        ),
        slack: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: owners, maxLength: owners }),
      }),
    );
    fc.assert(
      fc.property(offersArb, ({ owners, k, offers, slack }) => {
        const capacities = Uint32Array.from({ length: owners }, (_, o) =>
          Math.min(k, offers.filter((offer) => offer.owner === o).length + slack[o]!),
        );
        const heaps = new TopKHeaps(capacities);
        const reference = Array.from({ length: owners }, () => new TopKHeap(k));
        for (const { owner, index, score } of offers) {
          heaps.push(owner, index, score);
          reference[owner]!.push(index, score);
        }
        expect(heaps.allocated).toBe(capacities.reduce((sum, c) => sum + c, 0));
        for (let o = 0; o < owners; o++) {
          const drain = (into: (idx: Uint32Array, score: Float64Array) => number) => {
            const idx = new Uint32Array(k);
            const score = new Float64Array(k);
            const n = into(idx, score);
            return { idx: [...idx.subarray(0, n)], score: [...score.subarray(0, n)] };
          };
          expect(drain((idx, score) => heaps.drainInto(o, idx, score, 0))).toEqual(
            drain((idx, score) => reference[o]!.drainInto(idx, score, 0)),
          );
        }
      }),
    );
  });
});

describe('the symmetric co-occurrence pass, its heaps sized by pairCapacities', () => {
  it('returns exactly the lists of the one-item-at-a-time pass (one TopKHeap(k) per item)', () => {
    fc.assert(
      fc.property(
        plainInteractionsArb,
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        (plain, k, minSupport) => {
          const x = toInteractions(plain);
          const limits = { k, minSupport, minScore: 0 };
          // Symmetric bit for bit, with many exact ties.
          const score = (_i: number, _j: number, support: number, dot: number) => support + dot;
          expect(scoreCoOccurringPairs(x, limits, score, true)).toEqual(
            scoreCoOccurringPairs(x, limits, score, false),
          );
        },
      ),
    );
  });
});
