import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type HistoryEntry,
  historyEntryText,
  historyFromStored,
  parseHistoryEntry,
  storedHistoryText,
} from '../src/history-text';

/** Strings as item ids and types come: short ids, any text, control characters, quotes and backslashes. */
const text = fc.oneof(
  fc.constantFrom('view', 'click', 'fav', 'cart', 'purchase', ''),
  fc.stringMatching(/^[a-z0-9-]{1,12}$/),
  fc.string({ maxLength: 12 }),
  fc.string({ maxLength: 8, unit: fc.integer({ min: 0, max: 0x2ff }).map((c) => String.fromCharCode(c)) }),
  fc.string({ maxLength: 8, unit: fc.constantFrom('"', '\\', ',', '[', ']', 'a', '\n', '\u0000', '\u2028') }),
  fc.string({ maxLength: 6, unit: 'grapheme' }),
  fc.string({ maxLength: 4, unit: 'binary' }),
);
const time = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 45 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 2 ** 53, 2 ** 53 + 2, 1e21, 1733400000000),
);
const entry = fc.record({ type: text, itemId: text, timestampMs: time });

/** What JSON.parse reads of each entry text, in order, leaving out those that are not entries. */
const viaJson = (entryTexts: readonly string[]) =>
  entryTexts.map(parseHistoryEntry).filter((e): e is HistoryEntry => e !== null);

describe('history text', () => {
  it('reads what JSON.parse reads of each entry, for every history the store writes', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), (entries) => {
        const texts = entries.map(historyEntryText);
        expect(historyFromStored(storedHistoryText(texts))).toEqual(viaJson(texts));
      }),
      { numRuns: 2_000 },
    );
  });

  it('gives back plain entries exactly: ids without escapes and integer times', () => {
    const plain = fc.record({
      type: fc.constantFrom('view', 'click', 'fav', 'cart', 'purchase', 'share'),
      itemId: fc
        .string({ minLength: 1, maxLength: 16 })
        .filter((s) => [...s].every((c) => c !== '\\' && c !== '"' && c.charCodeAt(0) >= 0x20)),
      timestampMs: fc.integer({ min: -(2 ** 45), max: 2 ** 45 }),
    });
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 50 }), (entries) => {
        expect(historyFromStored(storedHistoryText(entries.map(historyEntryText)))).toEqual(entries);
      }),
    );
  });

  it('reads altered entries as JSON.parse reads them, leaving out what is no entry', () => {
    const altered = fc
      .tuple(
        entry.map(historyEntryText),
        fc.nat(),
        fc.constantFrom('', '"', ',', '[', ']', ' ', '\\', '0', '1', '-', '.', 'e', 'x', '\t', '{}', 'null'),
        fc.nat({ max: 2 }),
      )
      .map(([value, at, insert, remove]) => {
        const i = at % (value.length + 1);
        return value.slice(0, i) + insert + value.slice(i + remove);
      })
      .filter((value) => value.length > 0);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            altered,
            fc.json().filter((j) => !j.includes('\n')),
          ),
          { maxLength: 6 },
        ),
        (texts) => {
          expect(historyFromStored(storedHistoryText(texts))).toEqual(viaJson(texts));
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('leaves out entries that are not [type, itemId, timestampMs]; refuses a text that is no stored history', () => {
    // Oldest first, as stored: the newest entry is the last line.
    const stored =
      '000006\n["purchase","d",7]\n["fav","c","6"]\n["cart","b",4,5]\n"x"\n["view",2,3]\n["view","a",1]\n';
    expect(historyFromStored(stored)).toEqual([
      { type: 'view', itemId: 'a', timestampMs: 1 },
      { type: 'cart', itemId: 'b', timestampMs: 4 },
      { type: 'purchase', itemId: 'd', timestampMs: 7 },
    ]);
    expect(historyFromStored(storedHistoryText([]))).toEqual([]);
    expect(() => historyFromStored('[["view","a",1]]')).toThrow();
    expect(() => historyFromStored('000001\n["view","a",1]')).toThrow();
  });

  it('takes the newest entries it is asked for, counting those it leaves out', () => {
    const entries = Array.from({ length: 9 }, (_, i) => ({ type: 'view', itemId: `i${i}`, timestampMs: i }));
    const texts = entries.map(historyEntryText);
    texts[1] = '"not an entry"';
    const stored = storedHistoryText(texts);
    expect(historyFromStored(stored, 3)).toEqual([entries[0], entries[2]]);
    expect(historyFromStored(stored, 0)).toEqual([]);
    expect(historyFromStored(stored, 100)).toHaveLength(8);
  });
});
