import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ItemIdTable } from '../src/item-table';

/** Ids as stores hold them: short ASCII (inlined), longer ones, Latin-1, other Unicode, NUL, and empty. */
const itemId = fc.oneof(
  fc.stringMatching(/^[a-z0-9]{1,8}$/),
  fc.string({ minLength: 0, maxLength: 12 }),
  fc.string({
    minLength: 1,
    maxLength: 8,
    unit: fc.integer({ min: 0, max: 0x2ff }).map((c) => String.fromCharCode(c)),
  }),
  fc.string({ minLength: 9, maxLength: 40, unit: 'grapheme' }),
);

describe('ItemIdTable', () => {
  it('answers every id as a Map of the same ids in index order does, one by one and all at once, duplicates and absent ids included', () => {
    fc.assert(
      fc.property(
        fc.array(itemId, { maxLength: 300 }),
        fc.array(itemId, { maxLength: 100 }),
        (itemIds, others) => {
          const table = new ItemIdTable(itemIds);
          const map = new Map(itemIds.map((id, i) => [id, i]));
          const asked = [...itemIds, ...others];
          for (const id of asked) expect(table.get(id)).toBe(map.get(id));
          const found = new Int32Array(asked.length);
          table.getAll(asked, found);
          expect([...found]).toEqual(asked.map((id) => map.get(id) ?? -1));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('tells apart ids that differ only past a NUL, in length, or in a character above one byte', () => {
    const itemIds = ['a', 'a\u0000', 'ab', 'abcdefgh', 'abcdefghi', 'abcdefg\u0101', 'é', ''];
    const table = new ItemIdTable(itemIds);
    for (const [i, id] of itemIds.entries()) expect(table.get(id)).toBe(i);
    for (const absent of ['b', 'a\u0000\u0000', 'abcdefgi', 'abcdefghij', 'e', ' '])
      expect(table.get(absent)).toBeUndefined();
  });

  it('finds each of 200,000 generated ids and none of 10,000 others', () => {
    const itemIds = Array.from({ length: 200_000 }, (_, i) => `i${String(i).padStart(6, '0')}`);
    const table = new ItemIdTable(itemIds);
    for (let i = 0; i < itemIds.length; i += 7) expect(table.get(itemIds[i]!)).toBe(i);
    for (let i = 200_000; i < 210_000; i++) expect(table.get(`i${i}`)).toBeUndefined();
  });
});
