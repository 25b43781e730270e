import { boostFactor } from './rules';
import type { ActiveRules, Anchor, ModelView } from './types';

const ANCHOR_SOURCES: readonly Anchor['source'][] = ['personal', 'similar', 'bought_together'];

/**
 * An open-addressing table from item index to its accumulated score and largest contributions, sized to the
 * request's candidates (a few thousand slots, cache-resident) rather than to the item table. Reused by every call
 * and cleared slot by slot before a call returns, so calls stay independent.
 */
interface Table {
  bits: number;
  slots: number;
  /** item index per slot, -1 = free */
  item: Int32Array;
  score: Float64Array;
  /** per slot, the `slots` largest contributions: anchor item index (-1 = empty), amount, source */
  topAnchor: Int32Array;
  topAmount: Float64Array;
  topSource: Uint8Array;
}

let table: Table | null = null;

function tableFor(entries: number, slots: number): Table {
  let bits = 4;
  while (1 << bits < entries * 2) bits++;
  if (table === null || table.bits < bits || table.slots !== slots) {
    const size = 1 << bits;
    table = {
      bits,
      slots,
      item: new Int32Array(size).fill(-1),
      score: new Float64Array(size),
      topAnchor: new Int32Array(size * slots),
      topAmount: new Float64Array(size * slots),
      topSource: new Uint8Array(size * slots),
    };
  }
  return table;
}

/** Whether a contribution goes before the one at `at` (amount desc, anchor index asc; empty slots last). */
function beats(
  topAnchor: Int32Array,
  topAmount: Float64Array,
  at: number,
  amount: number,
  anchorIdx: number,
): boolean {
  const held = topAnchor[at]!;
  return held === -1 || amount > topAmount[at]! || (amount === topAmount[at] && anchorIdx < held);
}

/** The anchors' candidates, best first on demand (a heap: only as many are ordered as the caller reads). */
export interface Candidates {
  /** the item at rank `i` (0 = best), or -1 past the last */
  at(i: number): number;
  /** Σ anchor.weight × similarity × boost of the item at rank `i` */
  score(i: number): number;
  /** the source of its largest contribution */
  source(i: number): Anchor['source'];
  /** the anchor items of its largest contributions, largest first (ties: lower index first) */
  because(i: number): number[];
}

const EMPTY_CANDIDATES: Candidates = {
  at: () => -1,
  score: () => 0,
  source: () => 'personal',
  because: () => [],
};

/**
 * Scores every item the anchors' lists name. Work is Σ list lengths, plus log(candidates) per candidate read.
 * Exclusions are not applied here: the caller checks the few candidates it reads, which gives the same ranking.
 * `use` must finish with the candidates before returning: the table is cleared afterwards.
 */
export function withCandidates<T>(
  model: ModelView,
  anchors: readonly Anchor[],
  rules: ActiveRules,
  maxBecause: number,
  use: (candidates: Candidates) => T,
): T {
  let total = 0;
  for (const anchor of anchors) total += anchor.neighbors.idx.length;
  if (total === 0) return use(EMPTY_CANDIDATES);
  const slots = Math.max(1, maxBecause);
  const t = tableFor(total, slots);
  const mask = (1 << t.bits) - 1;
  const shift = 32 - t.bits;
  const used = new Int32Array(total);
  let n = 0;
  const { item: items, score: scores, topAnchor, topAmount, topSource } = t;
  try {
    for (const anchor of anchors) {
      const { idx, score } = anchor.neighbors;
      const source = ANCHOR_SOURCES.indexOf(anchor.source);
      const anchorIdx = anchor.itemIdx;
      const weight = anchor.weight;
      for (let k = 0; k < idx.length; k++) {
        const item = idx[k]!;
        const amount = weight * score[k]!;
        let slot = Math.imul(item, 0x9e3779b1) >>> shift;
        while (items[slot] !== item && items[slot] !== -1) slot = (slot + 1) & mask;
        const base = slot * slots;
        if (items[slot] === -1) {
          items[slot] = item;
          scores[slot] = 0;
          for (let j = 0; j < slots; j++) topAnchor[base + j] = -1;
          used[n++] = slot;
        }
        scores[slot]! += amount;
        // Insert into the slot's small sorted list of largest contributions.
        let j = slots - 1;
        if (!beats(topAnchor, topAmount, base + j, amount, anchorIdx)) continue;
        while (j > 0 && beats(topAnchor, topAmount, base + j - 1, amount, anchorIdx)) {
          topAnchor[base + j] = topAnchor[base + j - 1]!;
          topAmount[base + j] = topAmount[base + j - 1]!;
          topSource[base + j] = topSource[base + j - 1]!;
          j--;
        }
        topAnchor[base + j] = anchorIdx;
        topAmount[base + j] = amount;
        topSource[base + j] = source;
      }
    }
    if (rules.itemFactor.size > 0 || rules.categoryFactor.size > 0)
      for (let i = 0; i < n; i++) t.score[used[i]!]! *= boostFactor(rules, model, t.item[used[i]!]!);

    // Max-heap of the used slots by (score desc, item index asc); popped lazily into `order`.
    const heap = used.subarray(0, n);
    let size = n;
    const better = (a: number, b: number) =>
      t.score[a]! > t.score[b]! || (t.score[a] === t.score[b] && t.item[a]! < t.item[b]!);
    const siftDown = (from: number) => {
      let i = from;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= size) return;
        const right = left + 1;
        const child = right < size && better(heap[right]!, heap[left]!) ? right : left;
        if (!better(heap[child]!, heap[i]!)) return;
        const swap = heap[i]!;
        heap[i] = heap[child]!;
        heap[child] = swap;
        i = child;
      }
    };
    for (let i = (size >> 1) - 1; i >= 0; i--) siftDown(i);
    const order: number[] = [];
    const slotAt = (i: number) => {
      while (order.length <= i && size > 0) {
        const top = heap[0]!;
        order.push(top);
        heap[0] = heap[--size]!;
        heap[size] = top;
        siftDown(0);
      }
      return i < order.length ? order[i]! : -1;
    };
    return use({
      at(i) {
        const slot = slotAt(i);
        return slot === -1 ? -1 : t.item[slot]!;
      },
      score: (i) => t.score[slotAt(i)]!,
      source: (i) => ANCHOR_SOURCES[t.topSource[slotAt(i) * slots]!]!,
      because(i) {
        const base = slotAt(i) * slots;
        const anchorsOf: number[] = [];
        for (let j = 0; j < maxBecause && t.topAnchor[base + j] !== -1; j++)
          anchorsOf.push(t.topAnchor[base + j]!);
        return anchorsOf;
      },
    });
  } finally {
    for (let i = 0; i < n; i++) t.item[used[i]!] = -1;
  }
}
