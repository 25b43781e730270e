import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boughtTogether } from '../src/bought-together';
import type { Baskets } from '../src/interactions';
import { expectSameNeighbors } from './support';

const basketsArb = fc.integer({ min: 1, max: 7 }).chain((numItems) =>
  fc.record({
    numItems: fc.constant(numItems),
    baskets: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: numItems - 1 }), { maxLength: 5 }), {
      maxLength: 12,
    }),
  }),
);

function toBaskets(baskets: number[][]): Baskets {
  const ptr = new Uint32Array(baskets.length + 1);
  const items: number[] = [];
  baskets.forEach((basket, b) => {
    items.push(...[...basket].sort((x, y) => x - y));
    ptr[b + 1] = items.length;
  });
  return { ptr, itemIdx: Uint32Array.from(items) };
}

function bruteBoughtTogether(
  numItems: number,
  baskets: number[][],
  minSupport: number,
): Map<number, number>[] {
  const holding = (item: number) => baskets.filter((basket) => basket.includes(item)).length;
  const result: Map<number, number>[] = [];
  for (let i = 0; i < numItems; i++) {
    const candidates = new Map<number, number>();
    for (let j = 0; j < numItems; j++) {
      if (j === i) continue;
      const both = baskets.filter((basket) => basket.includes(i) && basket.includes(j)).length;
      if (both > 0 && both >= minSupport) candidates.set(j, both / Math.sqrt(holding(i) * holding(j)));
    }
    result.push(candidates);
  }
  return result;
}

describe('boughtTogether', () => {
  it('matches brute-force basket co-occurrence / sqrt(n_i·n_j)', () => {
    const optsArb = fc.record({
      k: fc.integer({ min: 0, max: 4 }),
      minSupport: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(
      fc.property(basketsArb, optsArb, ({ numItems, baskets }, opts) => {
        expectSameNeighbors(
          boughtTogether(toBaskets(baskets), numItems, opts),
          bruteBoughtTogether(numItems, baskets, opts.minSupport),
          opts.k,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('rejects baskets holding items beyond numItems', () => {
    expect(() => boughtTogether(toBaskets([[0, 5]]), 3, { k: 2, minSupport: 1 })).toThrow(RangeError);
  });
});
