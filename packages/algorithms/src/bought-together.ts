import type { Baskets } from './interactions';
import { NeighborsWriter, pairCapacities, TopKHeaps } from './top-k';
import type { Neighbors } from './types';
import { requireInteger } from './validate';

export interface BoughtTogetherOptions {
  k: number;
  /** minimum number of distinct shoppers with a basket holding both items */
  minSupport: number;
}

const NONE = -1;

/**
 * Items bought together: score(i, j) = c_ij / sqrt(n_i · n_j), with c_ij the baskets holding both and n_i the
 * baskets holding i (the Ochiai / binary cosine coefficient). Raw counts would rank bestsellers next to every
 * item; c_ij / n_i is asymmetric and still favours popular j. Dividing by the geometric mean discounts both
 * sides' popularity, and so rewards rarity too: with `minSupport` 1, an item bought once, with i, scores
 * 1 / sqrt(n_i), ahead of a complement in 10 of its 200 baskets with i (0.71 / sqrt(n_i)); the build's default of
 * 2 (BUILD_BOUGHT_TOGETHER_MIN_SUPPORT, docs/model.md) keeps such one-off pairs out. Support counts shoppers, not
 * baskets: one order is often two baskets (carted in one session or UTC day, paid for in the next), and one
 * shopper reordering a pair is still one shopper's taste.
 *
 * Each pair is found once, from its lower item, and offered to both items' heaps (the score is symmetric bit for
 * bit); each item's baskets are visited grouped by shopper, so a shopper is counted once per pair.
 */
export function boughtTogether(baskets: Baskets, numItems: number, opts: BoughtTogetherOptions): Neighbors {
  requireInteger('k', opts.k, 0);
  requireInteger('minSupport', opts.minSupport, 1);
  const { ptr, itemIdx, users } = baskets;
  const numBaskets = ptr.length - 1;
  if (users.length !== numBaskets) throw new RangeError('baskets.users must hold one user per basket');
  let numUsers = 0;
  for (let b = 0; b < numBaskets; b++) numUsers = Math.max(numUsers, users[b]! + 1);
  // Baskets by user (counting sort), then the item → (basket, position) transpose filled in that order.
  const userStart = new Uint32Array(numUsers + 1);
  for (let b = 0; b < numBaskets; b++) userStart[users[b]! + 1]!++;
  for (let u = 0; u < numUsers; u++) userStart[u + 1]! += userStart[u]!;
  const byUser = new Uint32Array(numBaskets);
  const userFill = userStart.slice(0, numUsers);
  for (let b = 0; b < numBaskets; b++) byUser[userFill[users[b]!]!++] = b;
  const nnz = itemIdx.length;
  const itemPtr = new Uint32Array(numItems + 1);
  for (let b = 0; b < numBaskets; b++) {
    for (let q = ptr[b]!; q < ptr[b + 1]!; q++) {
      const j = itemIdx[q]!;
      if (j >= numItems) throw new RangeError(`item index ${j} out of range (numItems ${numItems})`);
      if (q > ptr[b]! && j <= itemIdx[q - 1]!)
        throw new RangeError(`basket ${b} items are not strictly ascending`);
      itemPtr[j + 1]!++;
    }
  }
  const basketCount = new Float64Array(numItems);
  for (let j = 0; j < numItems; j++) {
    basketCount[j] = itemPtr[j + 1]!;
    itemPtr[j + 1]! += itemPtr[j]!;
  }
  const itemFill = itemPtr.slice(0, numItems);
  const entry = new Uint32Array(nnz);
  const entryBasket = new Uint32Array(nnz);
  for (let r = 0; r < numBaskets; r++) {
    const b = byUser[r]!;
    for (let q = ptr[b]!; q < ptr[b + 1]!; q++) {
      const pos = itemFill[itemIdx[q]!]!++;
      entry[pos] = q;
      entryBasket[pos] = b;
    }
  }

  const together = new Uint32Array(numItems);
  const shoppers = new Uint32Array(numItems);
  const lastShopper = new Int32Array(numItems).fill(NONE);
  const touched = new Uint32Array(numItems);
  const heaps = new TopKHeaps(pairCapacities(ptr, itemIdx, numItems, opts.k, opts.minSupport));
  for (let i = 0; i < numItems; i++) {
    let touchedCount = 0;
    for (let p = itemPtr[i]!; p < itemPtr[i + 1]!; p++) {
      const qi = entry[p]!;
      const b = entryBasket[p]!;
      const user = users[b]!;
      // Baskets hold their items ascending, so the entries after i's are exactly the partners j > i.
      for (let q = qi + 1; q < ptr[b + 1]!; q++) {
        const j = itemIdx[q]!;
        if (together[j] === 0) touched[touchedCount++] = j;
        together[j]!++;
        if (lastShopper[j] !== user) {
          lastShopper[j] = user;
          shoppers[j]!++;
        }
      }
    }
    for (let t = 0; t < touchedCount; t++) {
      const j = touched[t]!;
      if (shoppers[j]! >= opts.minSupport) {
        const score = together[j]! / Math.sqrt(basketCount[i]! * basketCount[j]!);
        heaps.push(i, j, score);
        heaps.push(j, i, score);
      }
      together[j] = 0;
      shoppers[j] = 0;
      lastShopper[j] = NONE;
    }
  }
  const writer = new NeighborsWriter(numItems, opts.k);
  for (let i = 0; i < numItems; i++) writer.commitOwner(heaps, i);
  return writer.finish();
}
