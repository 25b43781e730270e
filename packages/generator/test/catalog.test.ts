import { describe, expect, it } from 'vitest';
import {
  buildCatalogLayout,
  categoryNameOf,
  GENERATED_ITEMS_CSV_HEADER,
  generateCatalog,
  generateCategories,
  generatedItemToCsv,
  resolveGeneratorOptions,
} from '../src/index';

describe('generateCatalog', () => {
  const opts = { items: 3_000, seed: 9 };
  const items = [...generateCatalog(opts)];

  it('yields every item once with sequential zero-padded ids', () => {
    expect(items).toHaveLength(3_000);
    expect(items[0]!.itemId).toBe('i000000');
    expect(items[123]!.itemId).toBe('i000123');
    expect(new Set(items.map((i) => i.itemId)).size).toBe(3_000);
  });

  it('uses the default category count max(5, items/200), all non-empty, ids like c012', () => {
    const categories = new Set(items.map((i) => i.categoryId));
    expect(categories.size).toBe(15);
    for (const c of categories) expect(c).toMatch(/^c\d{3}$/);
  });

  it('has positive prices with at most two decimals', () => {
    for (const item of items) {
      expect(item.price).toBeGreaterThan(0);
      expect(Math.round(item.price * 100) / 100).toBe(item.price);
    }
  });

  it('gives readable titles: a brand, then words, the same kind of product throughout a category', () => {
    for (const item of items) expect(item.title).toMatch(/^[A-Z][\w&' -]+ [a-zA-Z0-9' -]+$/);
    const shoes = items.filter((item) => item.categoryId === 'c000');
    for (const item of shoes) expect(item.title).toMatch(/ (running shoes|trainers|racing shoes)( \d+)?$/);
    expect(shoes.map((item) => item.title)).toContain('Everpeak trail running shoes');
  });

  it('gives every item of a category its own title', () => {
    const small = [...generateCatalog({ items: 150, seed: 11 })];
    expect(new Set(small.map((item) => item.title)).size).toBe(small.length);
    for (const c of new Set(items.map((item) => item.categoryId))) {
      const titles = items.filter((item) => item.categoryId === c).map((item) => item.title);
      expect(new Set(titles).size).toBe(titles.length);
    }
  });

  it('numbers later editions once a category holds more items than its kind has titles', () => {
    const crowded = [...generateCatalog({ items: 2_000, seed: 3, categories: 1 })];
    const titles = crowded.map((item) => item.title);
    expect(new Set(titles).size).toBe(titles.length);
    expect(titles.filter((title) => / [2-9]$/.test(title)).length).toBe(2_000 - 360);
  });

  it('names the categories readably, numbering a kind that comes round again', () => {
    expect(generateCategories(opts).slice(0, 3)).toEqual([
      { categoryId: 'c000', name: 'Running shoes' },
      { categoryId: 'c001', name: 'Socks' },
      { categoryId: 'c002', name: 'Headphones' },
    ]);
    expect(generateCategories(opts)).toHaveLength(15);
    expect(categoryNameOf(22)).toBe('Running shoes 2');
  });

  it('is deterministic for a seed and different for another seed', () => {
    expect([...generateCatalog(opts)]).toEqual(items);
    const other = [...generateCatalog({ ...opts, seed: 10 })];
    expect(other.map((i) => i.categoryId)).not.toEqual(items.map((i) => i.categoryId));
    expect(other.map((i) => i.title)).not.toEqual(items.map((i) => i.title));
  });

  it('agrees with the layout the event stream uses', () => {
    const layout = buildCatalogLayout(opts);
    items.forEach((item, i) => {
      expect(item.categoryId).toBe(`c${String(layout.itemCategory[i]).padStart(3, '0')}`);
    });
    for (let c = 0; c < layout.numCategories; c++) {
      const from = layout.categoryPtr[c]!;
      const to = layout.categoryPtr[c + 1]!;
      expect(to).toBeGreaterThan(from);
      for (let j = from; j < to; j++) expect(layout.itemCategory[layout.categoryItems[j]!]).toBe(c);
    }
  });

  it('caps the category count at the item count', () => {
    const tiny = [...generateCatalog({ items: 3, seed: 1, categories: 10 })];
    expect(new Set(tiny.map((i) => i.categoryId)).size).toBe(3);
  });

  it('writes CSV lines matching the header, quoting titles only when needed', () => {
    const columns = GENERATED_ITEMS_CSV_HEADER.split(',').length;
    expect(generatedItemToCsv(items[0]!).split(',')).toHaveLength(columns);
    expect(generatedItemToCsv({ itemId: 'i000001', categoryId: 'c001', title: 'Mug, "big"', price: 5 })).toBe(
      'i000001,c001,"Mug, ""big""",5.00',
    );
  });
});

describe('resolveGeneratorOptions', () => {
  it('defaults the window so that it ends in the past with the spike starting at UTC midnight', () => {
    const now = Date.UTC(2024, 10, 20, 0, 30);
    const resolved = resolveGeneratorOptions({ users: 1, items: 1, events: 1, seed: 1 }, now);
    expect(resolved.endMs).toBeLessThanOrEqual(now);
    expect(resolved.endMs - resolved.startMs).toBe(14 * 86_400_000);
    expect(resolved.endMs - resolved.festivalHours * 3_600_000).toBe(Date.UTC(2024, 10, 19));
    expect(resolved.zipfExponent).toBe(1.1);
    expect(resolved.categories).toBe(1);
  });

  it('rejects invalid sizes', () => {
    expect(() => resolveGeneratorOptions({ users: 0, items: 1, events: 1, seed: 1 })).toThrow(RangeError);
    expect(() => resolveGeneratorOptions({ users: 1, items: 1.5, events: 1, seed: 1 })).toThrow(RangeError);
    expect(() => resolveGeneratorOptions({ users: 1, items: 1, events: -1, seed: 1 })).toThrow(RangeError);
    expect(() => resolveGeneratorOptions({ users: 1, items: 1, events: 1, seed: 1, days: 0 })).toThrow(
      RangeError,
    );
  });
});
