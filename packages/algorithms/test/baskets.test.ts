import { describe, expect, it } from 'vitest';
import { boughtTogether } from '../src/bought-together';
import { type BuildInputOptions, DEFAULT_TYPE_WEIGHTS, InteractionsBuilder } from '../src/interactions';
import { neighborsOf } from '../src/neighbors';
import { eventTypeCode } from '../src/types';

const REFERENCE = Date.UTC(2026, 10, 11, 12);
const HOUR = 3_600_000;
const CART = eventTypeCode('cart');
const PURCHASE = eventTypeCode('purchase');

const options: BuildInputOptions = {
  typeWeights: { ...DEFAULT_TYPE_WEIGHTS },
  halfLifeDays: 365,
  referenceTimeMs: REFERENCE,
  maxItemsPerUser: 500,
  maxUsersPerItem: 1000,
  seed: 42,
  trendingRecentHours: 3,
  trendingBaselineHours: 72,
};

const basketsOf = (ptr: Uint32Array, itemIdx: Uint32Array) =>
  Array.from({ length: ptr.length - 1 }, (_, b) => [...itemIdx.subarray(ptr[b]!, ptr[b + 1]!)]);

describe('baskets', () => {
  it('never put two shoppers’ carts in one basket because their storefront gave their sessions one id', () => {
    // Session ids are the storefront's: a per-visitor session counter ("1", "2", …) or a session start second
    // (GA4's ga_session_id) repeats across shoppers.
    const builder = new InteractionsBuilder(options);
    const session = 0;
    builder.add(0, 0, CART, REFERENCE - 2 * HOUR, session);
    builder.add(1, 2, CART, REFERENCE - 2 * HOUR, session);
    builder.add(0, 1, PURCHASE, REFERENCE - HOUR, session);
    builder.add(1, 3, PURCHASE, REFERENCE - HOUR, session);
    // One shopper's own session is still one basket, and a second session of shopper 0 another.
    builder.add(0, 4, CART, REFERENCE - HOUR, 1);
    builder.add(0, 5, PURCHASE, REFERENCE - HOUR, 1);
    const { baskets } = builder.build(2, 6);
    expect(basketsOf(baskets.ptr, baskets.itemIdx)).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    const together = boughtTogether(baskets, 6, { k: 10, minSupport: 1 });
    expect([...neighborsOf(together, 0).idx]).toEqual([1]);
    expect([...neighborsOf(together, 2).idx]).toEqual([3]);
  });
});
