import { ensureCapacity } from './growable';
import type { Neighbors } from './types';

/**
 * Bounded heap keeping the best `capacity` (index, score) pairs, where better means a higher score and, on
 * equal scores, a lower index, so results are deterministic. The root is the worst pair kept.
 */
export class TopKHeap {
  readonly capacity: number;
  private readonly heapIdx: Uint32Array;
  private readonly heapScore: Float64Array;
  private count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.heapIdx = new Uint32Array(capacity);
    this.heapScore = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Offers a pair; NaN scores must not be offered. */
  push(index: number, score: number): void {
    const idx = this.heapIdx;
    const sc = this.heapScore;
    if (this.count < this.capacity) {
      let pos = this.count++;
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        const ps = sc[parent]!;
        if (ps < score || (ps === score && idx[parent]! > index)) break;
        idx[pos] = idx[parent]!;
        sc[pos] = ps;
        pos = parent;
      }
      idx[pos] = index;
      sc[pos] = score;
      return;
    }
    if (this.capacity === 0) return;
    const rootScore = sc[0]!;
    if (score < rootScore || (score === rootScore && index > idx[0]!)) return;
    this.siftDownFromRoot(index, score, this.count);
  }

  /** Writes the kept pairs best-first at `offset`, empties the heap and returns how many were written. */
  drainInto(outIdx: Uint32Array, outScore: Float64Array, offset: number): number {
    const n = this.count;
    const idx = this.heapIdx;
    const sc = this.heapScore;
    for (let remaining = n; remaining > 0; remaining--) {
      outIdx[offset + remaining - 1] = idx[0]!;
      outScore[offset + remaining - 1] = sc[0]!;
      const last = remaining - 1;
      if (last > 0) this.siftDownFromRoot(idx[last]!, sc[last]!, last);
    }
    this.count = 0;
    return n;
  }

  /** Places (index, score) at the root of a heap of `size` entries and restores the heap order. */
  private siftDownFromRoot(index: number, score: number, size: number): void {
    const idx = this.heapIdx;
    const sc = this.heapScore;
    let pos = 0;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= size) break;
      const right = child + 1;
      if (right < size) {
        const cs = sc[child]!;
        const rs = sc[right]!;
        if (rs < cs || (rs === cs && idx[right]! > idx[child]!)) child = right;
      }
      const cs = sc[child]!;
      if (score < cs || (score === cs && index > idx[child]!)) break;
      idx[pos] = idx[child]!;
      sc[pos] = cs;
      pos = child;
    }
    idx[pos] = index;
    sc[pos] = score;
  }
}

/**
 * How many pairs a pass that pairs the items of each row (a user's items, a basket), keeping k per item and only
 * pairs in `minSupport` rows (or shoppers, each with a row) or more, can offer each item: its partners share its
 * rows, each at least `minSupport` of them (so at most Σ over its rows of their lengths − 1, over `minSupport`),
 * and are among the items that share a row with another. An item in no row gets 0. Rows hold distinct items.
 */
export function pairCapacities(
  rowPtr: Uint32Array,
  itemIdx: Uint32Array,
  numItems: number,
  k: number,
  minSupport: number,
): Uint32Array {
  const coEntries = new Float64Array(numItems);
  for (let r = 0; r + 1 < rowPtr.length; r++) {
    const others = rowPtr[r + 1]! - rowPtr[r]! - 1;
    for (let q = rowPtr[r]!; q < rowPtr[r + 1]!; q++) coEntries[itemIdx[q]!]! += others;
  }
  let paired = 0;
  for (let i = 0; i < numItems; i++) if (coEntries[i]! > 0) paired++;
  const capacities = new Uint32Array(numItems);
  for (let i = 0; i < numItems; i++)
    capacities[i] = Math.min(k, Math.max(0, paired - 1), Math.floor(coEntries[i]! / minSupport));
  return capacities;
}

/**
 * One bounded top-K heap per owner (item) in flat typed arrays, for passes that find each pair once and offer it
 * to both of its items. Same order as `TopKHeap`: higher score first, then lower index. Owner o's heap holds
 * `capacities[o]` pairs (`pairCapacities`: what it can be offered, at most k), so an item a pass never pairs
 * takes no room: k for every item was 1.2 GB at k = 500 over 200,000 items, most of them never carted.
 */
export class TopKHeaps {
  /** where each owner's heap starts in the flat arrays; owner o's capacity is start[o + 1] − start[o] */
  private readonly start: Uint32Array;
  private readonly heapIdx: Uint32Array;
  private readonly heapScore: Float64Array;
  private readonly sizes: Uint32Array;

  constructor(capacities: Uint32Array) {
    const owners = capacities.length;
    this.start = new Uint32Array(owners + 1);
    let total = 0;
    for (let o = 0; o < owners; o++) {
      total += capacities[o]!;
      if (total > 0xffff_ffff) throw new RangeError(`heaps of ${total} pairs or more are too many to hold`);
      this.start[o + 1] = total;
    }
    this.heapIdx = new Uint32Array(total);
    this.heapScore = new Float64Array(total);
    this.sizes = new Uint32Array(owners);
  }

  /** the pairs all heaps together can hold (12 bytes each) */
  get allocated(): number {
    return this.heapIdx.length;
  }

  sizeOf(owner: number): number {
    return this.sizes[owner]!;
  }

  /** Offers a pair to `owner`'s heap; NaN scores must not be offered. */
  push(owner: number, index: number, score: number): void {
    const base = this.start[owner]!;
    const k = this.start[owner + 1]! - base;
    if (k === 0) return;
    const idx = this.heapIdx;
    const sc = this.heapScore;
    const count = this.sizes[owner]!;
    if (count < k) {
      let pos = count;
      this.sizes[owner] = count + 1;
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        const ps = sc[base + parent]!;
        if (ps < score || (ps === score && idx[base + parent]! > index)) break;
        idx[base + pos] = idx[base + parent]!;
        sc[base + pos] = ps;
        pos = parent;
      }
      idx[base + pos] = index;
      sc[base + pos] = score;
      return;
    }
    const rootScore = sc[base]!;
    if (score < rootScore || (score === rootScore && index > idx[base]!)) return;
    this.siftDownFromRoot(base, index, score, count);
  }

  /** Writes `owner`'s pairs best-first at `offset`, empties its heap and returns how many were written. */
  drainInto(owner: number, outIdx: Uint32Array, outScore: Float64Array, offset: number): number {
    const base = this.start[owner]!;
    const n = this.sizes[owner]!;
    const idx = this.heapIdx;
    const sc = this.heapScore;
    for (let remaining = n; remaining > 0; remaining--) {
      outIdx[offset + remaining - 1] = idx[base]!;
      outScore[offset + remaining - 1] = sc[base]!;
      const last = remaining - 1;
      if (last > 0) this.siftDownFromRoot(base, idx[base + last]!, sc[base + last]!, last);
    }
    this.sizes[owner] = 0;
    return n;
  }

  private siftDownFromRoot(base: number, index: number, score: number, size: number): void {
    const idx = this.heapIdx;
    const sc = this.heapScore;
    let pos = 0;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= size) break;
      const right = child + 1;
      if (right < size) {
        const cs = sc[base + child]!;
        const rs = sc[base + right]!;
        if (rs < cs || (rs === cs && idx[base + right]! > idx[base + child]!)) child = right;
      }
      const cs = sc[base + child]!;
      if (score < cs || (score === cs && index > idx[base + child]!)) break;
      idx[base + pos] = idx[base + child]!;
      sc[base + pos] = cs;
      pos = child;
    }
    idx[base + pos] = index;
    sc[base + pos] = score;
  }
}

/** Appends each item's top-K in item order and assembles the CSR `Neighbors`. */
export class NeighborsWriter {
  private readonly numItems: number;
  private readonly ptr: Uint32Array;
  private idx: Uint32Array;
  private score: Float64Array;
  private length = 0;
  private itemsWritten = 0;

  constructor(numItems: number, k: number) {
    this.numItems = numItems;
    this.ptr = new Uint32Array(numItems + 1);
    const initial = Math.min(numItems * k, Math.max(1024, numItems * 4));
    this.idx = new Uint32Array(initial);
    this.score = new Float64Array(initial);
  }

  /** Drains the heap as the neighbours of the next item. */
  commit(heap: TopKHeap): void {
    const needed = this.length + heap.size;
    this.idx = ensureCapacity(this.idx, needed);
    this.score = ensureCapacity(this.score, needed);
    this.length += heap.drainInto(this.idx, this.score, this.length);
    this.ptr[++this.itemsWritten] = this.length;
  }

  /** Drains `owner`'s heap of `heaps` as the neighbours of the next item. */
  commitOwner(heaps: TopKHeaps, owner: number): void {
    const needed = this.length + heaps.sizeOf(owner);
    this.idx = ensureCapacity(this.idx, needed);
    this.score = ensureCapacity(this.score, needed);
    this.length += heaps.drainInto(owner, this.idx, this.score, this.length);
    this.ptr[++this.itemsWritten] = this.length;
  }

  finish(): Neighbors {
    if (this.itemsWritten !== this.numItems) {
      throw new Error(`neighbours written for ${this.itemsWritten} of ${this.numItems} items`);
    }
    return {
      numItems: this.numItems,
      ptr: this.ptr,
      idx: this.idx.slice(0, this.length),
      score: this.score.slice(0, this.length),
    };
  }
}
