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

interface Department {
  nouns: readonly string[];
  /** Median price in the department. */
  basePrice: number;
}

const DEPARTMENTS: readonly Department[] = [
  {
    nouns: ['Wireless Earbuds', 'Bluetooth Speaker', 'Power Bank', 'Smart Watch', 'USB-C Hub'],
    basePrice: 45,
  },
  { nouns: ['Running Shoes', 'Sneakers', 'Ankle Boots', 'Sandals', 'Loafers'], basePrice: 60 },
  { nouns: ['Hoodie', 'Denim Jacket', 'T-Shirt', 'Cardigan', 'Chinos'], basePrice: 30 },
  { nouns: ['Face Serum', 'Moisturizer', 'Lipstick', 'Sunscreen', 'Cleansing Balm'], basePrice: 18 },
  { nouns: ['Coffee Maker', 'Air Fryer', 'Rice Cooker', 'Blender', 'Electric Kettle'], basePrice: 70 },
  { nouns: ['Yoga Mat', 'Dumbbell Set', 'Resistance Bands', 'Foam Roller', 'Jump Rope'], basePrice: 25 },
  { nouns: ['Backpack', 'Tote Bag', 'Wallet', 'Crossbody Bag', 'Travel Duffel'], basePrice: 40 },
  { nouns: ['Desk Lamp', 'Throw Pillow', 'Wall Clock', 'Scented Candle', 'Storage Basket'], basePrice: 22 },
  { nouns: ['Building Blocks', 'Plush Toy', 'Puzzle', 'Board Game', 'RC Car'], basePrice: 20 },
  { nouns: ['Green Tea', 'Dark Chocolate', 'Mixed Nuts', 'Instant Noodles', 'Coffee Beans'], basePrice: 9 },
  { nouns: ['Phone Case', 'Screen Protector', 'Charging Cable', 'Car Mount', 'Tablet Stand'], basePrice: 12 },
  { nouns: ['Mechanical Keyboard', 'Gaming Mouse', 'Monitor Arm', 'Webcam', 'Headset'], basePrice: 55 },
  { nouns: ['Cookware Set', 'Chef Knife', 'Cutting Board', 'Food Container', 'Water Bottle'], basePrice: 28 },
  { nouns: ['Dog Leash', 'Cat Tree', 'Pet Bed', 'Chew Toy', 'Pet Fountain'], basePrice: 24 },
  { nouns: ['Notebook', 'Fountain Pen', 'Planner', 'Sticky Notes', 'Desk Organizer'], basePrice: 8 },
  { nouns: ['Sunglasses', 'Wristwatch', 'Silk Scarf', 'Necklace', 'Baseball Cap'], basePrice: 35 },
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
const ADJECTIVES = [
  'Classic',
  'Compact',
  'Deluxe',
  'Essential',
  'Lightweight',
  'Premium',
  'Portable',
  'Slim',
  'Everyday',
  'Pro',
  'Eco',
  'Ultra',
  'Vintage',
  'Soft-Touch',
  'Heavy-Duty',
];
const COLORS = ['Black', 'White', 'Navy', 'Grey', 'Olive', 'Sand', 'Crimson', 'Teal', 'Blush', 'Charcoal'];

/** Department of a category: stable per category so all items of a category read alike. */
export function departmentOf(categoryIndex: number): Department {
  return DEPARTMENTS[categoryIndex % DEPARTMENTS.length]!;
}

/**
 * The catalog for the options, item by item (i000000, i000001, …). Deterministic for a seed and
 * consistent with generateEvents for the same options. Only the layout is held in memory.
 */
export function* generateCatalog(opts: CatalogOptions): Generator<GeneratedItem> {
  const layout = buildCatalogLayout(opts);
  const rng = createRng(deriveSeed(opts.seed, STREAM_CATALOG_TEXT));
  for (let i = 0; i < layout.numItems; i++) {
    const category = layout.itemCategory[i]!;
    const department = departmentOf(category);
    const brand = BRANDS[rng.nextInt(BRANDS.length)]!;
    const adjective = ADJECTIVES[rng.nextInt(ADJECTIVES.length)]!;
    const noun = department.nouns[rng.nextInt(department.nouns.length)]!;
    const color = COLORS[rng.nextInt(COLORS.length)]!;
    yield {
      itemId: itemIdOf(i),
      categoryId: categoryIdOf(category),
      title: `${brand} ${adjective} ${noun} (${color})`,
      price: samplePrice(department.basePrice, rng),
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
