import {
  type CatalogOptions,
  categoryIdOf,
  itemIdOf,
  resolveCategoryCount,
  STREAM_CATALOG_TEXT,
  STREAM_LAYOUT,
} from './options';
import { createRng, deriveSeed, type Rng } from './rng';
import { buildAliasTable, sampleAlias, sampleStandardNormal, zipfWeights } from './sampling';

export interface GeneratedItem {
  itemId: string;
  categoryId: string;
  title: string;
  price: number;
}

/**
 * Which item sits in which category, as typed arrays. `categoryItems` groups item indexes by category
 * (slice categoryPtr[c]..categoryPtr[c+1]) in popularity order: position 0 of a slice is the category's
 * Zipf rank 0.
 */
export interface CatalogLayout {
  numItems: number;
  numCategories: number;
  itemCategory: Uint32Array;
  categoryPtr: Uint32Array;
  categoryItems: Uint32Array;
}

/** Category sizes are mildly skewed (a few big departments, a long tail of niche ones). */
const CATEGORY_SIZE_EXPONENT = 0.6;

export function buildCatalogLayout(opts: CatalogOptions): CatalogLayout {
  const numItems = opts.items;
  const numCategories = resolveCategoryCount(opts);
  const rng = createRng(deriveSeed(opts.seed, STREAM_LAYOUT));
  const sizeTable = buildAliasTable(zipfWeights(numCategories, CATEGORY_SIZE_EXPONENT));

  // The first numCategories items seed one category each so that no category is empty; the shuffle then
  // interleaves categories across the item id space.
  const itemCategory = new Uint32Array(numItems);
  for (let i = 0; i < numItems; i++) itemCategory[i] = i < numCategories ? i : sampleAlias(sizeTable, rng);
  shuffle(itemCategory, 0, numItems, rng);

  const categoryPtr = new Uint32Array(numCategories + 1);
  for (let i = 0; i < numItems; i++) categoryPtr[itemCategory[i]! + 1]!++;
  for (let c = 0; c < numCategories; c++) categoryPtr[c + 1]! += categoryPtr[c]!;
  const fill = categoryPtr.slice(0, numCategories);
  const categoryItems = new Uint32Array(numItems);
  for (let i = 0; i < numItems; i++) categoryItems[fill[itemCategory[i]!]!++] = i;
  // Popularity rank must not follow item id order.
  for (let c = 0; c < numCategories; c++) shuffle(categoryItems, categoryPtr[c]!, categoryPtr[c + 1]!, rng);

  return { numItems, numCategories, itemCategory, categoryPtr, categoryItems };
}

function shuffle(values: Uint32Array, from: number, to: number, rng: Rng): void {
  for (let i = to - 1; i > from; i--) {
    const j = from + rng.nextInt(i - from + 1);
    const tmp = values[i]!;
    values[i] = values[j]!;
    values[j] = tmp;
  }
}

/**
 * What the items of a category are. Every adjective reads with every noun ("trail" + "running shoes"), so a
 * title is a brand, an adjective and a noun in any combination.
 */
interface ProductKind {
  /** The category's readable name. */
  name: string;
  adjectives: readonly string[];
  nouns: readonly string[];
  /** Median price of the kind. */
  basePrice: number;
}

const PRODUCT_KINDS: readonly ProductKind[] = [
  {
    name: 'Running shoes',
    adjectives: ['trail', 'road', 'cushioned', 'carbon-plate', 'lightweight', 'waterproof'],
    nouns: ['running shoes', 'trainers', 'racing shoes'],
    basePrice: 60,
  },
  {
    name: 'Socks',
    adjectives: ['merino wool', 'bamboo', 'compression', 'hiking', 'ankle', 'cushioned'],
    nouns: ['socks', 'sock 3-pack', 'liner socks'],
    basePrice: 9,
  },
  {
    name: 'Headphones',
    adjectives: ['wireless', 'noise-cancelling', 'over-ear', 'open-ear', 'sport', 'studio'],
    nouns: ['headphones', 'earbuds', 'headset'],
    basePrice: 80,
  },
  {
    name: 'Coffee',
    adjectives: ['single-origin', 'dark roast', 'decaf', 'espresso', 'cold-brew', 'organic'],
    nouns: ['coffee beans', 'ground coffee', 'coffee pods'],
    basePrice: 12,
  },
  {
    name: 'Kitchen appliances',
    adjectives: ['compact', 'digital', 'stainless steel', 'smart', 'quiet', 'family-size'],
    nouns: ['air fryer', 'rice cooker', 'blender'],
    basePrice: 70,
  },
  {
    name: 'Skincare',
    adjectives: ['hydrating', 'vitamin C', 'fragrance-free', 'overnight', 'mineral', 'soothing'],
    nouns: ['face serum', 'moisturizer', 'sunscreen'],
    basePrice: 18,
  },
  {
    name: 'Jackets',
    adjectives: ['down', 'rain', 'fleece', 'insulated', 'packable', 'softshell'],
    nouns: ['jacket', 'coat', 'vest'],
    basePrice: 80,
  },
  {
    name: 'Backpacks',
    adjectives: ['hiking', 'commuter', 'laptop', 'rolltop', 'ultralight', 'waterproof'],
    nouns: ['backpack', 'daypack', 'travel pack'],
    basePrice: 40,
  },
  {
    name: 'Tea',
    adjectives: ['jasmine green', 'earl grey', 'oolong', 'chamomile', 'matcha', 'breakfast'],
    nouns: ['tea', 'loose-leaf tea', 'tea bags'],
    basePrice: 8,
  },
  {
    name: 'Yoga and fitness',
    adjectives: ['non-slip', 'travel', 'cork', 'extra-thick', 'eco', 'studio'],
    nouns: ['yoga mat', 'yoga block', 'exercise mat'],
    basePrice: 25,
  },
  {
    name: 'T-shirts',
    adjectives: ['organic cotton', 'merino', 'oversized', 'slim-fit', 'graphic', 'linen'],
    nouns: ['t-shirt', 'long-sleeve tee', 'polo shirt'],
    basePrice: 20,
  },
  {
    name: 'Chocolate',
    adjectives: ['dark', 'sea salt', 'hazelnut', 'salted caramel', 'almond', 'mint'],
    nouns: ['chocolate bar', 'chocolate truffles', 'chocolate thins'],
    basePrice: 6,
  },
  {
    name: 'Lamps',
    adjectives: ['LED', 'dimmable', 'rechargeable', 'clip-on', 'minimalist', 'touch-control'],
    nouns: ['desk lamp', 'floor lamp', 'reading light'],
    basePrice: 30,
  },
  {
    name: 'Keyboards',
    adjectives: ['mechanical', 'low-profile', 'wireless', 'compact', 'ergonomic', 'backlit'],
    nouns: ['keyboard', 'gaming keyboard', 'keyboard and mouse set'],
    basePrice: 65,
  },
  {
    name: 'Cookware',
    adjectives: ['cast iron', 'nonstick', 'stainless steel', 'carbon steel', 'ceramic', 'enamelled'],
    nouns: ['frying pan', 'skillet', 'saucepan'],
    basePrice: 35,
  },
  {
    name: 'Pet beds',
    adjectives: ['orthopedic', 'washable', 'calming', 'waterproof', 'cooling', 'heated'],
    nouns: ['dog bed', 'cat bed', 'pet mat'],
    basePrice: 22,
  },
  {
    name: 'Notebooks',
    adjectives: ['dotted', 'lined', 'hardcover', 'pocket', 'recycled', 'spiral'],
    nouns: ['notebook', 'journal', 'planner'],
    basePrice: 8,
  },
  {
    name: 'Eyewear',
    adjectives: ['polarized', 'aviator', 'round', 'sport', 'oversized', 'blue-light'],
    nouns: ['sunglasses', 'glasses'],
    basePrice: 35,
  },
  {
    name: 'Toys',
    adjectives: ['wooden', 'magnetic', 'STEM', 'glow-in-the-dark', 'family', 'classic'],
    nouns: ['building blocks', 'puzzle', 'board game'],
    basePrice: 20,
  },
  {
    name: 'Phone cases',
    adjectives: ['rugged', 'clear', 'leather', 'slim', 'shockproof', 'MagSafe'],
    nouns: ['phone case', 'phone wallet', 'phone grip'],
    basePrice: 12,
  },
  {
    name: 'Drinkware',
    adjectives: ['insulated', 'collapsible', 'glass', 'stainless steel', "kids'", 'sport'],
    nouns: ['water bottle', 'tumbler', 'travel mug'],
    basePrice: 20,
  },
  {
    name: 'Watches',
    adjectives: ['smart', 'solar', 'dive', 'chronograph', 'minimalist', 'field'],
    nouns: ['watch', 'wristwatch'],
    basePrice: 90,
  },
];

const BRANDS = [
  'Acorn',
  'Brightline',
  'Cedar & Co',
  'Driftwood',
  'Everpeak',
  'Foxglove',
  'Granite',
  'Harbor',
  'Ivory Lane',
  'Juniper',
  'Kestrel',
  'Lumina',
  'Maple Row',
  'Northwind',
  'Oakridge',
  'Pebble',
  'Quill',
  'Redwood',
  'Solstice',
  'Tidewater',
];

/** Product kind of a category: catalogs with more categories than kinds go round the list again. */
function productKindOf(categoryIndex: number): ProductKind {
  return PRODUCT_KINDS[categoryIndex % PRODUCT_KINDS.length]!;
}

/** "Running shoes"; a category that repeats a kind is numbered: "Running shoes 2". */
export function categoryNameOf(categoryIndex: number): string {
  const round = Math.floor(categoryIndex / PRODUCT_KINDS.length);
  const name = productKindOf(categoryIndex).name;
  return round === 0 ? name : `${name} ${round + 1}`;
}

export interface GeneratedCategory {
  categoryId: string;
  name: string;
}

/** The catalog's categories (c000, c001, …) with their readable names. */
export function generateCategories(opts: CatalogOptions): GeneratedCategory[] {
  return Array.from({ length: resolveCategoryCount(opts) }, (_, c) => ({
    categoryId: categoryIdOf(c),
    name: categoryNameOf(c),
  }));
}

/** Titles a kind can make: every brand with every adjective and noun. */
const titleCountOf = (kind: ProductKind) => BRANDS.length * kind.adjectives.length * kind.nouns.length;

/**
 * Per item, which title of its kind it gets: a seeded shuffle of the kind's titles per category, so titles
 * within a category differ until the category holds more items than the kind has titles.
 */
function assignTitles(layout: CatalogLayout, rng: Rng): Uint32Array {
  const titleOfItem = new Uint32Array(layout.numItems);
  for (let c = 0; c < layout.numCategories; c++) {
    const titleCount = titleCountOf(productKindOf(c));
    const order = new Uint32Array(titleCount);
    for (let t = 0; t < titleCount; t++) order[t] = t;
    shuffle(order, 0, titleCount, rng);
    const from = layout.categoryPtr[c]!;
    const to = layout.categoryPtr[c + 1]!;
    for (let position = 0; position < to - from; position++) {
      const edition = Math.floor(position / titleCount);
      titleOfItem[layout.categoryItems[from + position]!] =
        order[position % titleCount]! + edition * titleCount;
    }
  }
  return titleOfItem;
}

/** "Everpeak trail running shoes"; past the kind's titles, editions are numbered ("… running shoes 2"). */
function titleOf(kind: ProductKind, code: number): string {
  const titleCount = titleCountOf(kind);
  const edition = Math.floor(code / titleCount);
  let rest = code % titleCount;
  const noun = kind.nouns[rest % kind.nouns.length]!;
  rest = Math.floor(rest / kind.nouns.length);
  const adjective = kind.adjectives[rest % kind.adjectives.length]!;
  const brand = BRANDS[Math.floor(rest / kind.adjectives.length)]!;
  const title = `${brand} ${adjective} ${noun}`;
  return edition === 0 ? title : `${title} ${edition + 1}`;
}

/**
 * The catalog for the options, item by item (i000000, i000001, …). Deterministic for a seed and
 * consistent with generateEvents for the same options. Only the layout and one title number per item are held
 * in memory.
 */
export function* generateCatalog(opts: CatalogOptions): Generator<GeneratedItem> {
  const layout = buildCatalogLayout(opts);
  const rng = createRng(deriveSeed(opts.seed, STREAM_CATALOG_TEXT));
  const titleOfItem = assignTitles(layout, rng);
  for (let i = 0; i < layout.numItems; i++) {
    const category = layout.itemCategory[i]!;
    const kind = productKindOf(category);
    yield {
      itemId: itemIdOf(i),
      categoryId: categoryIdOf(category),
      title: titleOf(kind, titleOfItem[i]!),
      price: samplePrice(kind.basePrice, rng),
    };
  }
}

/** Log-normal around the department's base price; most prices end in .99 like real shelf prices. */
function samplePrice(basePrice: number, rng: Rng): number {
  const raw = basePrice * Math.exp(0.6 * sampleStandardNormal(rng));
  const cents =
    rng.next() < 0.7 ? Math.max(0, Math.floor(raw)) * 100 + 99 : Math.max(99, Math.round(raw * 100));
  return cents / 100;
}

export const GENERATED_ITEMS_CSV_HEADER = 'item_id,category_id,title,price';

/** One CSV line (no newline); the title is quoted when it holds a comma, quote or line break (RFC 4180). */
export function generatedItemToCsv(item: GeneratedItem): string {
  const title = /[",\r\n]/.test(item.title) ? `"${item.title.replaceAll('"', '""')}"` : item.title;
  return `${item.itemId},${item.categoryId},${title},${item.price.toFixed(2)}`;
}
