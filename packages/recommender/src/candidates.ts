import { readAhead } from './read-ahead';
import { boostFactor } from './rules';
import type { ActiveRules, Anchor, ModelView } from './types';

/** The anchors' candidates, best first on demand (a heap: only as many are ordered as the caller reads). */
export interface Candidates {
  /** the item at rank `i` (0 = best), or -1 past the last */
  at(i: number): number;
  /** its category number (`categoryTableOf`), -1 = none */
  category(i: number): number;
  /** Σ anchor.weight × similarity × boost of the item at rank `i` */
  score(i: number): number;
  /** the source of its largest contribution */
  source(i: number): Anchor['source'];
  /**
   * the anchors (positions in the anchors given) of its largest contributions, one per anchor item, largest first
   * (ties: lower item index first); unservable anchors are never named
   */
  becauseAnchors(i: number): number[];
}

const EMPTY_CANDIDATES: Candidates = {
  at: () => -1,
  category: () => -1,
  score: () => 0,
  source: () => 'personal',
  becauseAnchors: () => [],
};

/**
 * An open-addressing table from item index to its accumulated score, sized to the request's candidates (a few
 * thousand slots, cache-resident) rather than to the item table, plus one record per contribution, chained per
 * slot. Only the few candidates a caller reads need their contributions ordered (for `because` and `source`),
 * so the accumulation loop does a handful of typed-array writes per list entry and nothing more. One instance
 * serves every call (grown when a call needs more room) and is cleared slot by slot before a call returns, so
 * calls stay independent and allocate nothing per list entry. Methods, not closures: nothing is created per call.
 */
class CandidateTable implements Candidates {
  /** the arrays hold 1 << capacityBits slots */
  private capacityBits = 0;
  /** item index per slot, -1 = free */
  private item = new Int32Array(0);
  private total = new Float64Array(0);
  /** category number per slot (`categoryTableOf`), -1 = none */
  private categoryOf = new Int32Array(0);
  /** the slot's latest contribution, -1 = none; earlier ones follow `nextContribution` */
  private head = new Int32Array(0);
  /** per contribution: the anchor (position in `anchors`), its amount, and the slot's previous contribution */
  private contributionAnchor = new Int32Array(0);
  private contributionAmount = new Float64Array(0);
  private nextContribution = new Int32Array(0);
  /** the used slots: a max-heap in [0, heapSize), then the popped ones, best first, from the end backwards */
  private slots = new Int32Array(0);
  private used = 0;
  private heapSize = 0;
  private anchors: readonly Anchor[] = [];
  private maxBecause = 0;

  /** Scores every item the anchors' lists name. */
  fill(
    model: ModelView,
    anchors: readonly Anchor[],
    rules: ActiveRules,
    maxBecause: number,
    entries: number,
    ofItem: Int32Array,
  ): void {
    const bits = this.reserve(entries);
    this.anchors = anchors;
    this.maxBecause = maxBecause;
    const {
      item: items,
      total: totals,
      categoryOf,
      head,
      contributionAnchor,
      contributionAmount,
      nextContribution,
    } = this;
    const slots = this.slots;
    // Slots of this call only, however large an earlier call grew the arrays: its candidates stay close together.
    const mask = (1 << bits) - 1;
    const shift = 32 - bits;
    let used = 0;
    let contributions = 0;
    for (let a = 0; a < anchors.length; a++) {
      const anchor = anchors[a]!;
      const { idx, score } = anchor.neighbors;
      const { weight, categories } = anchor;
      const to = anchor.to ?? idx.length;
      for (let k = anchor.from ?? 0; k < to; k++) {
        const item = idx[k]!;
        const amount = weight * score[k]!;
        let slot = Math.imul(item, 0x9e3779b1) >>> shift;
        while (items[slot] !== item && items[slot] !== -1) slot = (slot + 1) & mask;
        if (items[slot] === -1) {
          items[slot] = item;
          totals[slot] = amount;
          categoryOf[slot] = categories === undefined ? ofItem[item]! : categories[k]!;
          head[slot] = -1;
          slots[used++] = slot;
        } else totals[slot]! += amount;
        contributionAnchor[contributions] = a;
        contributionAmount[contributions] = amount;
        nextContribution[contributions] = head[slot]!;
        head[slot] = contributions++;
      }
    }
    this.used = used;
    if (rules.itemFactor.size > 0 || rules.categoryFactor.size > 0)
      for (let i = 0; i < used; i++) totals[slots[i]!]! *= boostFactor(rules, model, items[slots[i]!]!);
    this.heapSize = used;
    for (let i = (used >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  clear(): void {
    for (let i = 0; i < this.used; i++) this.item[this.slots[i]!] = -1;
    this.used = 0;
    this.heapSize = 0;
    this.anchors = [];
  }

  at(i: number): number {
    const slot = this.slotAt(i);
    return slot === -1 ? -1 : this.item[slot]!;
  }

  category(i: number): number {
    return this.categoryOf[this.slotAt(i)]!;
  }

  score(i: number): number {
    return this.total[this.slotAt(i)]!;
  }

  source(i: number): Anchor['source'] {
    // `largest(slot, 1)` without its array: one walk of the chain keeping the first in order.
    let best = this.head[this.slotAt(i)]!;
    for (let c = this.nextContribution[best]!; c !== -1; c = this.nextContribution[c]!)
      if (this.goesBefore(c, best)) best = c;
    return this.anchorOf(best).source;
  }

  becauseAnchors(i: number): number[] {
    if (this.maxBecause <= 0) return [];
    const contributions = this.largest(this.slotAt(i), this.maxBecause);
    for (let k = 0; k < contributions.length; k++)
      contributions[k] = this.contributionAnchor[contributions[k]!]!;
    return contributions;
  }

  /** Grows the arrays to hold `entries` list entries; returns the table bits a call of that many uses. */
  private reserve(entries: number): number {
    let bits = 4;
    while (1 << bits < entries * 2) bits++;
    if (this.capacityBits >= bits) return bits;
    const size = 1 << bits;
    this.capacityBits = bits;
    this.item = new Int32Array(size).fill(-1);
    this.total = new Float64Array(size);
    this.categoryOf = new Int32Array(size);
    this.head = new Int32Array(size);
    this.contributionAnchor = new Int32Array(size);
    this.contributionAmount = new Float64Array(size);
    this.nextContribution = new Int32Array(size);
    this.slots = new Int32Array(size);
    return bits;
  }

  /** The slot of rank `i`, popping the heap as far as needed; -1 past the last. */
  private slotAt(i: number): number {
    const { slots, used } = this;
    while (used - this.heapSize <= i && this.heapSize > 0) {
      const top = slots[0]!;
      this.heapSize--;
      slots[0] = slots[this.heapSize]!;
      // Popped slots fill the array from its end: rank r sits at used - 1 - r.
      slots[this.heapSize] = top;
      this.siftDown(0);
    }
    return i < used - this.heapSize ? slots[used - 1 - i]! : -1;
  }

  /** Whether slot a ranks before slot b: total desc, then item index asc. */
  private better(a: number, b: number): boolean {
    const ta = this.total[a]!;
    const tb = this.total[b]!;
    return ta > tb || (ta === tb && this.item[a]! < this.item[b]!);
  }

  private siftDown(from: number): void {
    const heap = this.slots;
    const size = this.heapSize;
    const moving = heap[from]!;
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && this.better(heap[right]!, heap[left]!) ? right : left;
      if (!this.better(heap[child]!, moving)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = moving;
  }

  private anchorOf(contribution: number): Anchor {
    return this.anchors[this.contributionAnchor[contribution]!]!;
  }

  /** Whether contribution c orders before `held`: amount desc, then anchor item index asc, then anchor order. */
  private goesBefore(c: number, held: number): boolean {
    const amount = this.contributionAmount[c]!;
    const heldAmount = this.contributionAmount[held]!;
    if (amount !== heldAmount) return amount > heldAmount;
    const item = this.anchorOf(c).itemIdx;
    const heldItem = this.anchorOf(held).itemIdx;
    // The chain runs newest first, so a lower id is an earlier anchor.
    return item < heldItem || (item === heldItem && c < held);
  }

  /**
   * The slot's `limit` largest contributions (ids) of servable anchors, in order, at most one per anchor item: an
   * item anchoring twice (the page's item, also in the history) is named once, by its larger contribution.
   */
  private largest(slot: number, limit: number): number[] {
    const chosen: number[] = [];
    for (let c = this.head[slot]!; c !== -1; c = this.nextContribution[c]!) {
      const anchor = this.anchorOf(c);
      if (anchor.unservable === true) continue;
      const item = anchor.itemIdx;
      let same = chosen.length - 1;
      while (same >= 0 && this.anchorOf(chosen[same]!).itemIdx !== item) same--;
      // The array moves by hand: `splice` is a call into the runtime, per contribution of every item answered.
      if (same !== -1) {
        if (!this.goesBefore(c, chosen[same]!)) continue;
        for (let k = same; k < chosen.length - 1; k++) chosen[k] = chosen[k + 1]!;
        chosen.pop();
      }
      let j = chosen.length;
      while (j > 0 && this.goesBefore(c, chosen[j - 1]!)) j--;
      if (j >= limit) continue;
      chosen.push(c);
      for (let k = chosen.length - 1; k > j; k--) chosen[k] = chosen[k - 1]!;
      chosen[j] = c;
      if (chosen.length > limit) chosen.pop();
    }
    return chosen;
  }
}

const table = new CandidateTable();

/**
 * Scores every item the anchors' lists name. Work is Σ list lengths, plus log(candidates) per candidate read
 * and its number of contributions per `because`/`source`. Exclusions are not applied here: the caller checks
 * the few candidates it reads, which gives the same ranking. `use` must finish with the candidates before
 * returning: the table is cleared afterwards.
 */
export function withCandidates<T>(
  model: ModelView,
  anchors: readonly Anchor[],
  rules: ActiveRules,
  maxBecause: number,
  ofItem: Int32Array,
  use: (candidates: Candidates) => T,
): T {
  let entries = 0;
  // One read per 64-byte line of every list before scoring: the reads do not depend on each other, so the memory
  // system serves them in parallel, where the scoring loop would wait for each list's lines in turn (a served
  // model's lists are spread over ~100 MB).
  let touched = 0;
  for (const anchor of anchors) {
    const { idx, score } = anchor.neighbors;
    const { categories } = anchor;
    const from = anchor.from ?? 0;
    const to = anchor.to ?? idx.length;
    entries += to - from;
    for (let k = from; k < to; k += 16) touched += idx[k]! + score[k]!;
    if (categories !== undefined) for (let k = from; k < to; k += 16) touched += categories[k]!;
  }
  readAhead.sink = touched;
  if (entries === 0) return use(EMPTY_CANDIDATES);
  try {
    table.fill(model, anchors, rules, maxBecause, entries, ofItem);
    return use(table);
  } finally {
    table.clear();
  }
}
