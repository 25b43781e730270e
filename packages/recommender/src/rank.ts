import type { RecommendationSource } from '@elevens/domain';
import { type Candidates, withCandidates } from './candidates';
import { readAhead } from './read-ahead';
import { boostedList, NO_RULES } from './rules';
import type {
  ActivePin,
  ActiveRules,
  Anchor,
  FallbackList,
  ModelView,
  PackedLists,
  Recommendation,
  ScoredList,
} from './types';

/** The fallbacks' order unless a caller names another: the history's categories, then trending, then popular. */
export const DEFAULT_FALLBACK_ORDER: readonly FallbackList[] = ['categoryPopular', 'trending', 'popular'];

export interface RankOptions {
  model: ModelView;
  /** candidates come from these, scored Σ anchor.weight × similarity × boost */
  anchors: readonly Anchor[];
  /** items never to return (purchased, excluded, unservable, the anchors themselves…) */
  isExcluded: (itemIdx: number) => boolean;
  /** `isExcluded` of a pinned item the model's table does not hold (`ActivePin.newItem`); default: none is */
  isNewItemExcluded?: (itemId: string, category: string) => boolean;
  /** how many items to rank, from the first */
  count: number;
  /** restrict every source to this category (the per-category cap then does not apply) */
  category?: string;
  /**
   * without `category`: the categories whose popular items fill first (those of the user's history); a function is
   * called only when the candidates leave the answer short
   */
  fallbackCategories?: readonly string[] | (() => readonly string[]);
  /** the order the fallback lists fill in (default `DEFAULT_FALLBACK_ORDER`); the rest of the catalog follows */
  fallbackOrder?: readonly FallbackList[];
  /** at most this many items of one category, relaxed only when the catalog has too few eligible otherwise */
  maxPerCategory: number;
  /** how many `because` items to name per recommendation */
  maxBecause?: number;
  rules?: ActiveRules;
}

/** The item table's categories as small integers, built once per item table and kept while it lives. */
export interface CategoryTable {
  /** category number per item index, -1 = none */
  ofItem: Int32Array;
  /** the item indexes of each category, in index order, so a category's catalog sweep reads that category only */
  members: Map<string, Uint32Array>;
  /** per category number, items chosen so far by the running call (reset before it returns) */
  chosenCount: Uint32Array;
}

const categoryTables = new WeakMap<readonly string[], CategoryTable>();

export function categoryTableOf(model: Pick<ModelView, 'itemCategories'>): CategoryTable {
  let table = categoryTables.get(model.itemCategories);
  if (!table) {
    const numbers = new Map<string, number>();
    const grouped: number[][] = [];
    const ofItem = new Int32Array(model.itemCategories.length);
    model.itemCategories.forEach((category, item) => {
      if (category === '') {
        ofItem[item] = -1;
        return;
      }
      let number = numbers.get(category);
      if (number === undefined) {
        number = grouped.length;
        numbers.set(category, number);
        grouped.push([]);
      }
      ofItem[item] = number;
      grouped[number]!.push(item);
    });
    table = {
      ofItem,
      members: new Map(
        [...numbers].map(([category, number]) => [category, Uint32Array.from(grouped[number]!)]),
      ),
      chosenCount: new Uint32Array(grouped.length),
    };
    categoryTables.set(model.itemCategories, table);
  }
  return table;
}

const entryCategories = new WeakMap<PackedLists, { of: readonly string[]; categories: Int32Array }>();

/**
 * The category number (`categoryTableOf`) of every entry of `lists`, aligned with `lists.idx`, made once per
 * lists and item table: `recommend` reads a candidate's category with its list entry, where a look-up in the
 * item-wide table was a cache miss per candidate. 4 bytes per entry (40 MB for 200,000 items × 50 neighbours).
 */
export function entryCategoriesOf(model: Pick<ModelView, 'itemCategories'>, lists: PackedLists): Int32Array {
  const held = entryCategories.get(lists);
  if (held?.of === model.itemCategories) return held.categories;
  const { ofItem } = categoryTableOf(model);
  const categories = new Int32Array(lists.idx.length);
  for (let k = 0; k < categories.length; k++) categories[k] = ofItem[lists.idx[k]!]!;
  entryCategories.set(lists, { of: model.itemCategories, categories });
  return categories;
}

/**
 * Ranks candidates from the anchors' neighbour lists (boosted), then fills from the fallbacks in order —
 * category-popular, trending, popular (or `fallbackOrder`), then the rest of the catalog — skipping excluded and
 * already chosen items and respecting the per-category cap; if that leaves the answer short, the cap is relaxed
 * rather than answering with fewer items than eligible ones exist. Pins then take their positions. Work is bounded
 * by Σ anchor list lengths plus the fallback items examined until `count` are found (with `category`, only that
 * category's items).
 */
export function rankItems(options: RankOptions): Recommendation[] {
  const { model, count } = options;
  const rules = options.rules ?? NO_RULES;
  const selection = new Selection(options, rules);
  // Pins are inserted afterwards, so rank enough to fill every position they do not take.
  const pins = placedPins(rules.pins, selection);
  selection.wanted = count - pins.filter((p) => p.position < count).length;
  try {
    withCandidates(model, options.anchors, rules, options.maxBecause ?? 3, selection.ofItem, (candidates) => {
      selection.pass(candidates, true);
      if (!selection.full() && selection.cap !== Number.POSITIVE_INFINITY) selection.pass(candidates, false);
    });
  } finally {
    selection.release();
  }
  selection.nameChosen();

  const chosen = selection.chosen;
  // A pin beyond the ranked range still lands at the end when the catalog ran out before its position.
  for (const pin of pins) {
    const position = Math.min(pin.position, chosen.length);
    if (position >= count) break;
    // A pinned item takes the score of the item it goes ahead of, so scores still read best first; its source says
    // pinned whatever list also holds it, so a storefront can label the placement (featured, sponsored).
    const score = chosen[position]?.score ?? chosen[position - 1]?.score ?? 0;
    const itemId = pin.newItem?.itemId ?? model.itemIds[pin.itemIdx]!;
    chosen.splice(position, 0, { itemId, score, source: 'pinned' });
  }
  return chosen;
}

const NO_PINS: readonly ActivePin[] = [];

/**
 * The pins this answer can show, each at the first position from the one it asks for that no earlier pin took, by
 * ascending position: a pin whose item cannot be shown (bought, excluded, unservable, of another category) takes
 * no position, so a later pin asking for it gets it (a backup for a sold-out hero item).
 */
function placedPins(pins: ActiveRules['pins'], selection: Selection): readonly ActivePin[] {
  if (pins.length === 0) return NO_PINS;
  const placed: ActivePin[] = [];
  const taken = new Set<number>();
  for (const pin of pins) {
    if (!(pin.newItem ? selection.newItemEligible(pin.newItem) : selection.eligible(pin.itemIdx))) continue;
    let position = pin.position;
    while (taken.has(position)) position++;
    taken.add(position);
    placed.push({ ...pin, position });
  }
  return placed.sort((a, b) => a.position - b.position);
}

/** One `rankItems` call's state: the items chosen so far and what they take (methods, not per-call closures). */
class Selection {
  /** the items chosen so far, their ids given by `nameChosen` */
  readonly chosen: Recommendation[] = [];
  /** the model index of each chosen item */
  private readonly chosenItems: number[] = [];
  /** how many to choose before pins */
  wanted = 0;
  readonly cap: number;
  private readonly taken: Set<number>;
  private readonly categories: CategoryTable;
  /** the category numbers whose `chosenCount` this call raised, to reset them */
  private readonly counted: number[] = [];

  constructor(
    private readonly options: RankOptions,
    private readonly rules: ActiveRules,
  ) {
    this.taken = new Set(rules.pins.map((p) => p.itemIdx));
    this.categories = categoryTableOf(options.model);
    this.cap = options.category === undefined ? options.maxPerCategory : Number.POSITIVE_INFINITY;
  }

  eligible(item: number): boolean {
    const { options } = this;
    return (
      !options.isExcluded(item) &&
      (options.category === undefined || options.model.itemCategories[item] === options.category)
    );
  }

  newItemEligible({ itemId, category }: NonNullable<ActivePin['newItem']>): boolean {
    const { options } = this;
    return (
      !(options.isNewItemExcluded?.(itemId, category) ?? false) &&
      (options.category === undefined || category === options.category)
    );
  }

  full(): boolean {
    return this.chosen.length >= this.wanted;
  }

  /** Candidates first, then the fallback lists, then the rest of the catalog (or of the category). */
  pass(candidates: Candidates, capped: boolean): void {
    const { model, category, anchors } = this.options;
    for (let rank = 0; !this.full(); rank++) {
      const item = candidates.at(rank);
      if (item === -1) break;
      if (!this.admit(item, capped, candidates.category(rank))) continue;
      const because = candidates.becauseAnchors(rank);
      const becauseIds: string[] = new Array(because.length);
      for (let k = 0; k < because.length; k++) {
        const anchor = anchors[because[k]!]!;
        becauseIds[k] = anchor.itemId ?? model.itemIds[anchor.itemIdx]!;
      }
      this.choose(item, candidates.score(rank), candidates.source(rank), becauseIds);
    }
    // Most answers are full from the candidates: no fallback list is then looked up.
    if (this.full()) return;
    for (const list of this.options.fallbackOrder ?? DEFAULT_FALLBACK_ORDER) {
      if (list === 'trending') this.fillFromList(model.trending, 'trending', capped);
      else if (list === 'popular') this.fillFromList(model.popular, 'popular', capped);
      else if (category !== undefined)
        this.fillFromList(model.popularByCategory.get(category), 'popular', capped);
      else
        for (const c of this.fallbackCategories())
          this.fillFromList(model.popularByCategory.get(c), 'popular', capped);
    }
    if (this.full()) return;
    const rest =
      category === undefined ? undefined : (this.categories.members.get(category) ?? new Uint32Array(0));
    const end = rest ? rest.length : model.itemIds.length;
    for (let k = 0; k < end && !this.full(); k++) {
      const item = rest ? rest[k]! : k;
      if (this.admit(item, capped)) this.choose(item, 0, 'popular');
    }
  }

  private choose(item: number, score: number, source: RecommendationSource, because?: string[]): void {
    this.chosenItems.push(item);
    this.chosen.push(
      because === undefined ? { itemId: '', score, source } : { itemId: '', score, source, because },
    );
  }

  /**
   * Gives the chosen items their ids, read in one sweep once the choosing is done: an id (a pointer, then the
   * string the answer's JSON reads) is two cache misses in a served model's item table, and reads that do not
   * wait on each other are served in parallel, where reading each as it was chosen waited for one after another.
   * Reading the string's length brings it into the cache for the serialisation.
   */
  nameChosen(): void {
    const { itemIds } = this.options.model;
    let length = 0;
    for (let k = 0; k < this.chosen.length; k++) {
      const itemId = itemIds[this.chosenItems[k]!]!;
      this.chosen[k]!.itemId = itemId;
      length += itemId.length;
    }
    readAhead.sink = length;
  }

  private fallbacks: readonly string[] | null = null;

  private fallbackCategories(): readonly string[] {
    const given = this.options.fallbackCategories ?? [];
    this.fallbacks ??= typeof given === 'function' ? given() : given;
    return this.fallbacks;
  }

  /** Resets the shared per-category counts this call raised. */
  release(): void {
    for (const category of this.counted) this.categories.chosenCount[category] = 0;
  }

  /** The category number of each item (`categoryTableOf`). */
  get ofItem(): Int32Array {
    return this.categories.ofItem;
  }

  /**
   * Cheapest checks first: most candidates a full category turns away never reach the exclusion rules. A
   * candidate's category comes with it (read with its list entry), a fallback item's from the item table.
   */
  private admit(item: number, capped: boolean, category = this.categories.ofItem[item]!): boolean {
    const { chosenCount } = this.categories;
    const inCategory = category === -1 ? 0 : chosenCount[category]!;
    if ((capped && inCategory >= this.cap) || this.taken.has(item) || !this.eligible(item)) return false;
    this.taken.add(item);
    if (category !== -1) {
      if (inCategory === 0) this.counted.push(category);
      chosenCount[category] = inCategory + 1;
    }
    return true;
  }

  private fillFromList(list: ScoredList | undefined, source: RecommendationSource, capped: boolean): void {
    if (!list || this.full()) return;
    const { model } = this.options;
    const ordered = boostedList(this.rules, model, list);
    for (let k = 0; k < ordered.idx.length && !this.full(); k++) {
      const item = ordered.idx[k]!;
      if (this.admit(item, capped)) this.choose(item, ordered.score[k]!, source);
    }
  }
}
