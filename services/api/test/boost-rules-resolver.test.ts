import type { BoostRulesReply } from '@elevens/domain';
import { describe, expect, it } from 'vitest';
import { boostRulesResolver, unservableItemsOf } from '../src/plugins/boost-rules';

const NOW_MS = Date.UTC(2026, 10, 11, 12, 0, 0);
const HOUR_MS = 3_600_000;
const POLL_MS = 1000;
const iso = (ms: number) => new Date(ms).toISOString();

/** A model version knowing items a, b and c, at indexes that differ by version. */
const version = (name: string, order: string[]) => ({
  version: name,
  itemIndex: new Map(order.map((itemId, idx) => [itemId, idx])),
});
const v1 = version('v1', ['a', 'b', 'c']);
const v2 = version('v2', ['c', 'b', 'a']);

const rules = (ruleVersion: number, pinUntilMs: number): BoostRulesReply => ({
  version: ruleVersion,
  boosts: [{ itemId: 'b', factor: 3 }],
  pins: [{ itemId: 'a', position: 1, until: iso(pinUntilMs) }],
  updatedBy: null,
  updatedAt: null,
});

function clock() {
  let nowMs = NOW_MS;
  return { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
}

describe('boostRulesResolver', () => {
  it('keeps one resolution per model version while two versions alternate', () => {
    const { now } = clock();
    const resolve = boostRulesResolver(POLL_MS, now);
    const served = rules(4, NOW_MS + HOUR_MS);
    const first = { v1: resolve(served, v1), v2: resolve(served, v2) };
    for (let i = 0; i < 3; i++) {
      expect(resolve(served, v1)).toBe(first.v1);
      expect(resolve(served, v2)).toBe(first.v2);
    }
    expect(first.v1.active.pins).toEqual([{ itemIdx: 0, position: 0 }]);
    expect(first.v2.active.pins).toEqual([{ itemIdx: 2, position: 0 }]);
    expect([...first.v2.active.itemFactor]).toEqual([[1, 3]]);
    expect(first.v1).toMatchObject({ version: 4, changesAtMs: NOW_MS + HOUR_MS });
  });

  it('resolves again at the first window edge, however recently it resolved: a pin ends at its until', () => {
    const { now, advance } = clock();
    const resolve = boostRulesResolver(POLL_MS, now);
    const served = rules(4, NOW_MS + 500);
    const before = resolve(served, v1);
    advance(499);
    expect(resolve(served, v1)).toBe(before);
    advance(1);
    const after = resolve(served, v1);
    expect(after).not.toBe(before);
    expect(before.active.pins).toHaveLength(1);
    expect(after.active.pins).toEqual([]);
    expect(after.changesAtMs).toBe(Number.POSITIVE_INFINITY);
  });

  it('opens a window at its from, however recently it resolved', () => {
    const { now, advance } = clock();
    const resolve = boostRulesResolver(POLL_MS, now);
    const served: BoostRulesReply = {
      ...rules(4, NOW_MS + HOUR_MS),
      boosts: [{ category: 'shoes', factor: 2, from: iso(NOW_MS + 1) }],
    };
    expect([...resolve(served, v1).active.categoryFactor]).toEqual([]);
    advance(1);
    expect([...resolve(served, v1).active.categoryFactor]).toEqual([['shoes', 2]]);
  });

  it('resolves every version again under a new rule set', () => {
    const { now } = clock();
    const resolve = boostRulesResolver(POLL_MS, now);
    const first = rules(4, NOW_MS + HOUR_MS);
    const old = { v1: resolve(first, v1), v2: resolve(first, v2) };
    const next = rules(5, NOW_MS + HOUR_MS);
    expect(resolve(next, v1)).not.toBe(old.v1);
    expect(resolve(next, v2)).not.toBe(old.v2);
    expect(resolve(next, v2).version).toBe(5);
  });

  it('answers right for more versions than it keeps, keeping the ones resolved last', () => {
    const { now } = clock();
    const resolve = boostRulesResolver(POLL_MS, now);
    const served = rules(4, NOW_MS + HOUR_MS);
    const versions = Array.from({ length: 40 }, (_, i) =>
      version(`v${i}`, i % 2 === 0 ? ['a', 'b'] : ['b', 'a']),
    );
    const resolved = versions.map((v) => resolve(served, v));
    for (const [i, answer] of resolved.entries())
      expect(answer.active.pins).toEqual([{ itemIdx: i % 2 === 0 ? 0 : 1, position: 0 }]);
    // The 16 resolved last are kept; the first, let go, is resolved anew.
    for (let i = 24; i < 40; i++) expect(resolve(served, versions[i]!)).toBe(resolved[i]);
    expect(resolve(served, versions[0]!)).not.toBe(resolved[0]);
  });

  it('pins an item no version holds while the catalog follows and serves it, resolving again as its version moves', () => {
    const { now } = clock();
    const resolve = boostRulesResolver(POLL_MS, now);
    const served: BoostRulesReply = { ...rules(4, NOW_MS + HOUR_MS), pins: [{ itemId: 'new', position: 2 }] };
    const catalog = { version: '7', followed: new Map<string, string>(), unservable: new Set<string>() };
    const view = {
      version: () => catalog.version,
      followed: (itemId: string) => {
        const category = catalog.followed.get(itemId);
        return category === undefined ? undefined : { category };
      },
      isServable: (itemId: string) => !catalog.unservable.has(itemId),
    };
    const before = resolve(served, v1, view);
    expect(before.active.pins).toEqual([]);
    // Put in the catalog: read with its version's move, which resolves the rules again.
    catalog.followed.set('new', 'shoes');
    expect(resolve(served, v1, view)).toBe(before);
    catalog.version = '8';
    const put = resolve(served, v1, view);
    expect(put.active.pins).toEqual([
      { itemIdx: -1, position: 1, newItem: { itemId: 'new', category: 'shoes' } },
    ]);
    expect(resolve(served, v2, view).active.pins).toEqual(put.active.pins);
    // Blocked, it is dropped at the next move of the version.
    catalog.unservable.add('new');
    catalog.version = '9';
    expect(resolve(served, v1, view).active.pins).toEqual([]);
  });
});

describe('unservableItemsOf', () => {
  it('names each item the rules name that cannot be served once, in the order first named, with why', () => {
    const entry = (itemId: string, blocked: boolean, available: boolean) => ({
      itemId,
      categoryId: null,
      blocked,
      available,
    });
    const named: Pick<BoostRulesReply, 'boosts' | 'pins'> = {
      boosts: [
        { itemId: 'typo', factor: 2 },
        { category: 'shoes', factor: 2 },
        { itemId: 'ok', factor: 3 },
      ],
      pins: [
        { itemId: 'sold-out', position: 1 },
        { itemId: 'typo', position: 2 },
        { itemId: 'recalled', position: 3 },
        { itemId: 'events-only', position: 4 },
      ],
    };
    const catalog = [
      entry('ok', false, true),
      entry('sold-out', false, false),
      entry('recalled', true, false),
    ];
    expect(unservableItemsOf(named, catalog, v1)).toEqual([
      { itemId: 'typo', reason: 'not_in_catalog' },
      { itemId: 'sold-out', reason: 'unavailable' },
      { itemId: 'recalled', reason: 'blocked' },
      { itemId: 'events-only', reason: 'not_in_catalog' },
    ]);
    // An item with events the catalog never put is served from the model that holds it.
    expect(unservableItemsOf(named, catalog, version('v3', ['events-only']))).toHaveLength(3);
    expect(unservableItemsOf({ boosts: [], pins: [] }, [], null)).toEqual([]);
  });
});
