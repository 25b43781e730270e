import { readAhead } from './read-ahead';

/**
 * Item id → model index, for the ids a request brings (its anchors, purchases and exclusions), in one typed array.
 * A V8 `Map` of a served model's 200,000 ids costs about a microsecond a look-up on a busy server (profile:api,
 * docs/benchmarks.md): its bucket, its entry and the key string it compares are three dependent cache misses, and
 * an answer makes a dozen. Here a slot holds the index, the id's hash and, for an id of at most 8 one-byte
 * characters (every id of the shop, Taobao and MovieLens), the id itself: such a look-up reads one slot and no
 * string. Any other id is checked against the model's string, so every answer is `Map`'s.
 *
 * A slot is four Int32 words: index + 1 shifted left once, with the low bit set when the id is inline (0 = free);
 * the hash; the id's first four and next four characters, one byte each (0 past its end: ids inlined have no NUL).
 */
export class ItemIdTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(private readonly itemIds: readonly string[]) {
    let bits = 4;
    while (1 << bits < itemIds.length * 2) bits++;
    this.mask = (1 << bits) - 1;
    this.slots = new Int32Array(4 << bits);
    for (let idx = 0; idx < itemIds.length; idx++) this.insert(itemIds[idx]!, idx);
  }

  /** The index of the item with id `itemId`, as `new Map(itemIds.map((id, i) => [id, i])).get(itemId)` answers. */
  get(itemId: string): number | undefined {
    const key = keyOf(itemId);
    const { slots, mask } = this;
    for (let slot = key.hash & mask; ; slot = (slot + 1) & mask) {
      const head = slots[4 * slot]!;
      if (head === 0) return undefined;
      if (slots[4 * slot + 1] !== key.hash || (head & 1) !== key.inline) continue;
      const idx = (head >>> 1) - 1;
      if (
        key.inline === 1
          ? slots[4 * slot + 2] === key.low && slots[4 * slot + 3] === key.high
          : this.itemIds[idx] === itemId
      )
        return idx;
    }
  }

  /**
   * `get` of each of `itemIds` into `out` (-1 for an id not in the table). Every id's first slot is read before any
   * is compared: the reads do not depend on each other, so the memory system serves them in parallel, where one
   * look-up after another would wait for each slot in turn (a slot is a cache miss in a served model's table).
   */
  getAll(itemIds: readonly string[], out: Int32Array): void {
    const { slots, mask } = this;
    let touched = 0;
    for (let k = 0; k < itemIds.length; k++) touched += slots[4 * (keyOf(itemIds[k]!).hash & mask)]!;
    readAhead.sink = touched;
    for (let k = 0; k < itemIds.length; k++) out[k] = this.get(itemIds[k]!) ?? -1;
  }

  /** A later duplicate id takes the slot, as it takes the key of a `Map` built in index order. */
  private insert(itemId: string, idx: number): void {
    const key = keyOf(itemId);
    const { slots, mask } = this;
    let slot = key.hash & mask;
    while (slots[4 * slot] !== 0 && this.heldAt(slot) !== itemId) slot = (slot + 1) & mask;
    slots[4 * slot] = ((idx + 1) << 1) | key.inline;
    slots[4 * slot + 1] = key.hash;
    slots[4 * slot + 2] = key.low;
    slots[4 * slot + 3] = key.high;
  }

  private heldAt(slot: number): string {
    return this.itemIds[(this.slots[4 * slot]! >>> 1) - 1]!;
  }
}

/** One key's words, reused by every look-up (no object per call). */
const key = { hash: 0, inline: 0, low: 0, high: 0 };

/** FNV-1a of the id's UTF-16 code units, and its characters packed when it can be inlined. */
function keyOf(itemId: string): typeof key {
  let hash = 0x811c9dc5 | 0;
  let low = 0;
  let high = 0;
  let inline = itemId.length <= 8 ? 1 : 0;
  for (let i = 0; i < itemId.length; i++) {
    const code = itemId.charCodeAt(i);
    hash = Math.imul(hash ^ code, 0x01000193);
    if (inline === 1) {
      if (code === 0 || code > 0xff) inline = 0;
      else if (i < 4) low |= code << (8 * i);
      else high |= code << (8 * (i - 4));
    }
  }
  key.hash = hash;
  key.inline = inline;
  key.low = inline === 1 ? low : 0;
  key.high = inline === 1 ? high : 0;
  return key;
}

const tables = new WeakMap<readonly string[], ItemIdTable>();

/** The item table's `ItemIdTable`, made on first use and kept while the table lives (8 MB for 200,000 items). */
export function itemIdTableOf(model: { itemIds: readonly string[] }): ItemIdTable {
  let table = tables.get(model.itemIds);
  if (!table) {
    table = new ItemIdTable(model.itemIds);
    tables.set(model.itemIds, table);
  }
  return table;
}
