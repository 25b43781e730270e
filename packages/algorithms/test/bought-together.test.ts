import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boughtTogether } from '../src/bought-together';
import type { Baskets } from '../src/interactions';
import { expectSameNeighbors } from './support';

interface UserBasket {
  user: number;
  items: number[];
}

const basketsArb = fc.integer({ min: 1, max: 7 }).chain((numItems) =>
  fc.record({
    numItems: fc.constant(numItems),
    baskets: fc.array(
      fc.record({
        user: fc.integer({ min: 0, max: 3 }),
        items: fc.uniqueArray(fc.integer({ min: 0, max: numItems - 1 }), { maxLength: 5 }),
      }),
      { maxLength: 12 },
    ),
  }),
);

function toBaskets(baskets: UserBasket[]): Baskets {
  const ptr = new Uint32Array(baskets.length + 1);
  const items: number[] = [];
  baskets.forEach((basket, b) => {
    items.push(...[...basket.items].sort((x, y) => x - y));
    ptr[b + 1] = items.length;
  });
  return { ptr, itemIdx: Uint32Array.from(items), users: Uint32Array.from(baskets, (b) => b.user) };
}

/** Ochiai over baskets; a pair kept when at least minSupport distinct users have a basket holding both. */
function bruteBoughtTogether(
  numItems: number,
  baskets: UserBasket[],
  minSupport: number,
): Map<number, number>[] {
  const holding = (item: number) => baskets.filter((basket) => basket.items.includes(item)).length;
  const result: Map<number, number>[] = [];
  for (let i = 0; i < numItems; i++) {
    const candidates = new Map<number, number>();
    for (let j = 0; j < numItems; j++) {
      if (j === i) continue;
      const both = baskets.filter((basket) => basket.items.includes(i) && basket.items.includes(j));
      const shoppers = new Set(both.map((basket) => basket.user)).size;
      if (shoppers > 0 && shoppers >= minSupport)
        candidates.set(j, both.length / Math.sqrt(holding(i) * holding(j)));
    }
    result.push(candidates);
  }
  return result;
}

describe('boughtTogether', () => {
  it('matches brute-force basket co-occurrence / sqrt(n_i·n_j), support counted in shoppers', () => {
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

  it('needs minSupport shoppers, however many baskets one shopper has', () => {
    const oneShopper = [0, 0, 0].map((user) => ({ user, items: [0, 1] }));
    const alone = boughtTogether(toBaskets(oneShopper), 2, { k: 2, minSupport: 2 });
    expect(alone.idx.length).toBe(0);
    const two = boughtTogether(toBaskets([...oneShopper, { user: 1, items: [0, 1] }]), 2, {
      k: 2,
      minSupport: 2,
    });
    expect([...two.idx]).toEqual([1, 0]);
    expect([...two.score]).toEqual([1, 1]);
  });

  it('never lists an item as bought with itself', () => {
    const together = boughtTogether(
      toBaskets([
        { user: 0, items: [0] },
        { user: 1, items: [0] },
      ]),
      1,
      {
        k: 2,
        minSupport: 1,
      },
    );
    expect(together.idx.length).toBe(0);
  });

  it('rejects baskets holding items beyond numItems, or items out of order', () => {
    const opts = { k: 2, minSupport: 1 };
    expect(() => boughtTogether(toBaskets([{ user: 0, items: [0, 5] }]), 3, opts)).toThrow(RangeError);
    const unsorted = {
      ptr: Uint32Array.from([0, 2]),
      itemIdx: Uint32Array.from([1, 0]),
      users: new Uint32Array(1),
    };
    expect(() => boughtTogether(unsorted, 3, opts)).toThrow(RangeError);
  });
});
