import { describe, expect, it } from 'vitest';
import {
  buildCatalogLayout,
  GENERATED_EVENTS_CSV_HEADER,
  type GeneratedEvent,
  type GeneratorOptions,
  generatedEventToCsv,
  generateEvents,
} from '../src/index';

const HOUR = 3_600_000;
const START = Date.UTC(2024, 9, 28, 3);
const BASE: GeneratorOptions = { users: 1_500, items: 4_000, events: 60_000, seed: 2024, startMs: START };

/** FNV-1a over the CSV lines: compares whole streams without keeping them. */
function streamHash(opts: GeneratorOptions): { hash: number; count: number } {
  let hash = 0x811c9dc5;
  let count = 0;
  for (const e of generateEvents(opts)) {
    const line = generatedEventToCsv(e);
    for (let i = 0; i < line.length; i++) hash = Math.imul(hash ^ line.charCodeAt(i), 0x01000193);
    count++;
  }
  return { hash: hash >>> 0, count };
}

const sample: GeneratedEvent[] = [...generateEvents(BASE)];

describe('generateEvents: determinism and shape', () => {
  it('produces an identical stream for the same seed and a different one for another seed', () => {
    const small = { ...BASE, events: 500 };
    expect([...generateEvents(small)]).toEqual([...generateEvents(small)]);
    expect(streamHash(BASE)).toEqual(streamHash(BASE));
    expect(streamHash({ ...BASE, seed: 2025 }).hash).not.toBe(streamHash(BASE).hash);
  });

  it('produces exactly the requested number of events', () => {
    expect(sample).toHaveLength(60_000);
    for (const events of [0, 1, 2, 7, 1_001]) {
      let count = 0;
      for (const _ of generateEvents({ ...BASE, events })) count++;
      expect(count).toBe(events);
    }
  });

  it('uses unique deterministic event ids and zero-padded user and item ids', () => {
    expect(new Set(sample.map((e) => e.eventId)).size).toBe(sample.length);
    expect(sample[0]!.eventId).toBe('g2024-1500u4000i20c1.1z-0');
    expect(sample[59_999]!.eventId).toBe('g2024-1500u4000i20c1.1z-59999');
    for (const e of sample.slice(0, 2_000)) {
      expect(e.userId).toMatch(/^u\d{6}$/);
      expect(e.itemId).toMatch(/^i\d{6}$/);
      expect(Number(e.userId.slice(1))).toBeLessThan(BASE.users);
      expect(Number(e.itemId.slice(1))).toBeLessThan(BASE.items);
    }
  });

  it('names the shop in its ids: a shop of the same seed with other users or items shares no event id', () => {
    const small = { ...BASE, events: 2_000 };
    const ids = (opts: GeneratorOptions) => new Set([...generateEvents(opts)].map((e) => e.eventId));
    const shop = ids(small);
    for (const other of [
      { ...small, users: 1_501 },
      { ...small, items: 4_001 },
      { ...small, categories: 7 },
      { ...small, zipfExponent: 0.9 },
    ])
      expect([...ids(other)].filter((id) => shop.has(id)).length).toBe(0);
  });

  it('keeps the ids of the same events when only the event count or the window changes', () => {
    const what = (opts: GeneratorOptions) =>
      [...generateEvents(opts)].slice(0, 1_000).map((e) => `${e.eventId} ${e.userId} ${e.itemId} ${e.type}`);
    const shop = what({ ...BASE, events: 2_000 });
    expect(what({ ...BASE, events: 3_000 })).toEqual(shop);
    expect(what({ ...BASE, events: 2_000, startMs: START + 24 * HOUR, days: 7 })).toEqual(shop);
  });

  it('keeps timestamps in the window, nondecreasing within a session, sessions in start order', () => {
    const end = START + 14 * 24 * HOUR;
    const lastBySession = new Map<string, number>();
    let previousSessionStart = Number.NEGATIVE_INFINITY;
    let previousSession = '';
    const violations: string[] = [];
    for (const e of sample) {
      if (e.timestamp < START || e.timestamp >= end) violations.push(`${e.eventId} outside the window`);
      const last = lastBySession.get(e.sessionId);
      if (last === undefined) {
        if (e.timestamp < previousSessionStart)
          violations.push(`${e.sessionId} starts before its predecessor`);
        previousSessionStart = e.timestamp;
      } else {
        // Sessions are emitted whole, one after the other.
        if (e.sessionId !== previousSession) violations.push(`${e.sessionId} is interleaved`);
        if (e.timestamp < last) violations.push(`${e.eventId} goes back in time`);
      }
      lastBySession.set(e.sessionId, e.timestamp);
      previousSession = e.sessionId;
    }
    expect(violations).toEqual([]);
    const eventsPerSession = sample.length / lastBySession.size;
    expect(eventsPerSession).toBeGreaterThan(3);
    expect(eventsPerSession).toBeLessThan(10);
  });

  it('writes CSV lines with one field per header column', () => {
    expect(GENERATED_EVENTS_CSV_HEADER).toBe('event_id,user_id,item_id,type,timestamp,session_id');
    const e = sample[0]!;
    expect(generatedEventToCsv(e)).toBe(
      `${e.eventId},${e.userId},${e.itemId},${e.type},${e.timestamp},${e.sessionId}`,
    );
  });
});

describe('generateEvents: behaviour a recommender can learn from', () => {
  const countBy = <K>(keys: Iterable<K>): Map<K, number> => {
    const counts = new Map<K, number>();
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    return counts;
  };

  it('follows the view → cart → purchase funnel with a few favs', () => {
    const types = countBy(sample.map((e) => e.type));
    const views = types.get('view')!;
    const carts = types.get('cart')!;
    const purchases = types.get('purchase')!;
    const favs = types.get('fav')!;
    expect(carts / views).toBeGreaterThan(0.07);
    expect(carts / views).toBeLessThan(0.13);
    expect(purchases / carts).toBeGreaterThan(0.2);
    expect(purchases / carts).toBeLessThan(0.4);
    expect(favs / views).toBeGreaterThan(0.01);
    expect(favs / views).toBeLessThan(0.06);
  });

  it('precedes every purchase by a view or cart of the item by the same user in the same session', () => {
    const seen = new Map<string, { userId: string; items: Set<string> }>();
    const violations: string[] = [];
    let purchases = 0;
    for (const e of sample) {
      let session = seen.get(e.sessionId);
      if (!session) {
        session = { userId: e.userId, items: new Set() };
        seen.set(e.sessionId, session);
      }
      if (e.userId !== session.userId) violations.push(`${e.eventId}: session ${e.sessionId} changes user`);
      if (e.type === 'purchase') {
        purchases++;
        if (!session.items.has(e.itemId)) violations.push(`${e.eventId}: purchase without view or cart`);
      } else if (e.type === 'view' || e.type === 'cart') {
        session.items.add(e.itemId);
      }
    }
    expect(violations).toEqual([]);
    expect(purchases).toBeGreaterThan(100);
  });

  it('concentrates views on popular items (top 1% of items well above a uniform 1%)', () => {
    const counts = [...countBy(sample.map((e) => e.itemId)).values()].sort((a, b) => b - a);
    const head = counts.slice(0, BASE.items / 100).reduce((a, b) => a + b, 0);
    expect(head / sample.length).toBeGreaterThan(0.1);
  });

  it('keeps users inside a few preferred categories', () => {
    const layout = buildCatalogLayout(BASE);
    const byUser = new Map<string, Map<number, number>>();
    for (const e of sample) {
      const category = layout.itemCategory[Number(e.itemId.slice(1))]!;
      let categories = byUser.get(e.userId);
      if (!categories) {
        categories = new Map();
        byUser.set(e.userId, categories);
      }
      categories.set(category, (categories.get(category) ?? 0) + 1);
    }
    let inTopThree = 0;
    let total = 0;
    for (const categories of byUser.values()) {
      const sorted = [...categories.values()].sort((a, b) => b - a);
      inTopThree += sorted.slice(0, 3).reduce((a, b) => a + b, 0);
      total += sorted.reduce((a, b) => a + b, 0);
    }
    // 20 categories of which a user prefers 1–3: users browsing uniformly would keep far fewer of their
    // events in their own top three.
    expect(inTopThree / total).toBeGreaterThan(0.8);
  });

  it('skews activity: the busiest 10% of users produce well over 10% of events', () => {
    const counts = [...countBy(sample.map((e) => e.userId)).values()].sort((a, b) => b - a);
    const top = counts.slice(0, Math.ceil(BASE.users / 10)).reduce((a, b) => a + b, 0);
    expect(top / sample.length).toBeGreaterThan(0.25);
  });

  it('puts a festival spike of about 10× the average hourly rate into the last hours', () => {
    const end = START + 14 * 24 * HOUR;
    const spike = sample.filter((e) => e.timestamp >= end - 3 * HOUR).length / 3;
    const base = sample.filter((e) => e.timestamp < end - 3 * HOUR).length / (14 * 24 - 3);
    expect(spike / base).toBeGreaterThan(7);
    expect(spike / base).toBeLessThan(13);
    const flat = [...generateEvents({ ...BASE, festivalSpike: false, events: 20_000 })];
    const flatSpike = flat.filter((e) => e.timestamp >= end - 3 * HOUR).length / 3;
    expect(flatSpike / (flat.length / (14 * 24))).toBeLessThan(2);
  });
});

describe('generateEvents: streaming', () => {
  it('streams 300,000 events through the generator without collecting them', () => {
    const opts = { users: 20_000, items: 10_000, events: 300_000, seed: 3, startMs: START };
    let count = 0;
    let purchases = 0;
    let maxTimestamp = 0;
    for (const e of generateEvents(opts)) {
      count++;
      if (e.type === 'purchase') purchases++;
      if (e.timestamp > maxTimestamp) maxTimestamp = e.timestamp;
    }
    expect(count).toBe(300_000);
    expect(purchases).toBeGreaterThan(0);
    expect(maxTimestamp).toBeGreaterThan(START + 13 * 24 * HOUR);
  });
});
