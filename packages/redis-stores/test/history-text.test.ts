import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type HistoryEntry,
  historyEntryText,
  historyFromText,
  historyOf,
  plainHistoryOf,
} from '../src/history-text';

/** Strings as item ids and types come: short ids, any text, control characters, quotes and backslashes. */
const text = fc.oneof(
  fc.constantFrom('view', 'click', 'fav', 'cart', 'purchase', ''),
  fc.stringMatching(/^[a-z0-9-]{1,12}$/),
  fc.string({ maxLength: 12 }),
  fc.string({ maxLength: 8, unit: fc.integer({ min: 0, max: 0x2ff }).map((c) => String.fromCharCode(c)) }),
  fc.string({ maxLength: 8, unit: fc.constantFrom('"', '\\', ',', '[', ']', 'a', '\u0000', '\u2028') }),
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
const joined = (entries: readonly HistoryEntry[]) => `[${entries.map(historyEntryText).join(',')}]`;
/** A history text as read-user-state.lua answers it: the entries' texts joined into one array. */
const historyText = fc.array(entry, { maxLength: 8 }).map(joined);

const viaJson = (value: string) => historyOf(JSON.parse(value));

describe('history text', () => {
  it('reads what JSON.parse reads, for every history the store writes', () => {
    fc.assert(
      fc.property(historyText, (value) => {
        expect(historyFromText(value)).toEqual(viaJson(value));
      }),
      { numRuns: 2_000 },
    );
  });

  it('reads a plain history without JSON.parse: ids without escapes and integer times', () => {
    const plain = fc.record({
      type: fc.constantFrom('view', 'click', 'fav', 'cart', 'purchase', 'share'),
      itemId: fc
        .string({ minLength: 1, maxLength: 16 })
        .filter((s) => [...s].every((c) => c !== '\\' && c !== '"' && c.charCodeAt(0) >= 0x20)),
      timestampMs: fc.integer({ min: -(2 ** 45), max: 2 ** 45 }),
    });
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 50 }), (entries) => {
        expect(plainHistoryOf(joined(entries))).toEqual(entries);
      }),
    );
  });

  it('reads an altered text as JSON.parse does, or leaves it to JSON.parse', () => {
    const altered = fc
      .tuple(
        historyText,
        fc.nat(),
        fc.constantFrom('', '"', ',', '[', ']', ' ', '\\', '0', '1', '-', '.', 'e', 'x', '\n', '{}', 'null'),
        fc.nat({ max: 2 }),
      )
      .map(([value, at, insert, remove]) => {
        const i = at % (value.length + 1);
        return value.slice(0, i) + insert + value.slice(i + remove);
      });
    fc.assert(
      fc.property(fc.oneof(altered, fc.json()), (value) => {
        const plain = plainHistoryOf(value);
        let parsed: HistoryEntry[] | null = null;
        try {
          parsed = viaJson(value);
        } catch {
          // not JSON: the plain reading must not accept it either
        }
        if (plain !== null) expect(plain).toEqual(parsed);
      }),
      { numRuns: 5_000 },
    );
  });

  it('leaves out entries that are not [type, itemId, timestampMs], as before', () => {
    const value = '[["view","a",1],["view",2,3],"x",["cart","b",4,5],["fav","c","6"],["purchase","d",7]]';
    expect(historyFromText(value)).toEqual([
      { type: 'view', itemId: 'a', timestampMs: 1 },
      { type: 'cart', itemId: 'b', timestampMs: 4 },
      { type: 'purchase', itemId: 'd', timestampMs: 7 },
    ]);
    expect(plainHistoryOf(value)).toBeNull();
    expect(plainHistoryOf('[]')).toEqual([]);
    expect(() => historyFromText('[["view","a",1]')).toThrow();
  });
});
