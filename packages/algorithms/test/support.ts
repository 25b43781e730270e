/** Shared fixtures for the algorithm tests: small random inputs and a tie-tolerant neighbour comparison. */
import fc from 'fast-check';
import { expect } from 'vitest';
import { neighborsOf } from '../src/neighbors';
import type { Interactions, Neighbors } from '../src/types';

/** One user's entries as plain objects, the form the brute-force versions read. */
export interface PlainEntry {
  item: number;
  weight: number;
  primary: boolean;
}

export interface PlainInteractions {
  numItems: number;
  /** per user: item → entry */
  users: Map<number, PlainEntry>[];
}

/** Few users and items, small weight alphabet (ties), empty users allowed. */
export const plainInteractionsArb: fc.Arbitrary<PlainInteractions> = fc
  .integer({ min: 1, max: 7 })
  .chain((numItems) =>
    fc
      .array(
        fc.array(
          fc.record({
            item: fc.integer({ min: 0, max: numItems - 1 }),
            weight: fc.constantFrom(0.5, 1, 2, 3),
            primary: fc.boolean(),
          }),
          { maxLength: 6 },
        ),
        { maxLength: 10 },
      )
      .map((rows) => ({
        numItems,
        users: rows.map((row) => {
          const byItem = new Map<number, PlainEntry>();
          for (const entry of row) if (!byItem.has(entry.item)) byItem.set(entry.item, entry);
          return byItem;
        }),
      })),
  );

export function toInteractions(plain: PlainInteractions): Interactions {
  const userPtr = new Uint32Array(plain.users.length + 1);
  const itemIdx: number[] = [];
  const weight: number[] = [];
  const primary: number[] = [];
  plain.users.forEach((entries, u) => {
    const sorted = [...entries.values()].sort((a, b) => a.item - b.item);
    for (const entry of sorted) {
      itemIdx.push(entry.item);
      weight.push(entry.weight);
      primary.push(entry.primary ? 1 : 0);
    }
    userPtr[u + 1] = itemIdx.length;
  });
  return {
    numUsers: plain.users.length,
    numItems: plain.numItems,
    userPtr,
    itemIdx: Uint32Array.from(itemIdx),
    weight: Float64Array.from(weight),
    primary: Uint8Array.from(primary),
  };
}

export const limitsArb = fc.record({
  k: fc.integer({ min: 0, max: 4 }),
  minSupport: fc.integer({ min: 1, max: 3 }),
  minScore: fc.constantFrom(0, 0, 0.3),
});

export function close(a: number, b: number, tolerance = 1e-9): boolean {
  return Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * Asserts that `actual` holds, for every item, the top k of that item's brute-force candidates (candidate →
 * score, already filtered): the same score sequence within 1e-9, each returned neighbour one of the
 * candidates with its own score, no duplicates, exactly equal scores in ascending index order, and exactly the
 * brute-force neighbour at every position whose score ties with no other candidate (with ties within 1e-9, which
 * of the tied candidates fill the slots is free).
 */
export function expectSameNeighbors(actual: Neighbors, expected: Map<number, number>[], k: number): void {
  expect(actual.numItems).toBe(expected.length);
  expected.forEach((candidates, item) => {
    const ranked = [...candidates].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const top = ranked.slice(0, k);
    const { idx, score } = neighborsOf(actual, item);
    expect(idx.length, `item ${item} neighbour count`).toBe(top.length);
    expect(new Set(idx).size).toBe(idx.length);
    // Exact ties (equal as computed) go to the lower index, so lists do not depend on the order of the work.
    for (let p = 1; p < idx.length; p++) {
      if (score[p] === score[p - 1])
        expect(idx[p]!, `item ${item} tie at #${p}`).toBeGreaterThan(idx[p - 1]!);
    }
    top.forEach(([expectedIdx, expectedScore], p) => {
      const got = idx[p]!;
      expect(
        close(score[p]!, expectedScore),
        `item ${item} score #${p}: ${score[p]} vs ${expectedScore}`,
      ).toBe(true);
      const own = candidates.get(got);
      expect(own, `item ${item} returned non-candidate ${got}`).toBeDefined();
      expect(close(score[p]!, own!)).toBe(true);
      const tied = ranked.some(([j, s]) => j !== expectedIdx && close(s, expectedScore));
      if (!tied) expect(got, `item ${item} neighbour #${p}`).toBe(expectedIdx);
    });
  });
}
