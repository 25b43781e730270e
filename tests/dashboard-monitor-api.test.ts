import { buildApiApp, loadApiConfig } from '@elevens/api';
import type { HourTotals } from '@elevens/db';
import { encodePushAnswerId, encodeRecommendationAnswerId, PUSH_REASONS } from '@elevens/domain';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  counterRise,
  histogramQuantile,
  hourlyRise,
  LiveMonitor,
  MinuteRing,
  type MonitorReading,
} from '../services/api/src/dashboard/monitor';
import { UPLOT_VERSION } from '../services/api/src/dashboard/page';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

describe('monitor arithmetic', () => {
  it('MinuteRing sums every add of the minutes it still holds', () => {
    const adds = fc.array(
      fc.record({ minute: fc.integer({ min: -5, max: 40 }), value: fc.integer({ min: 0, max: 9 }) }),
      { maxLength: 80 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), adds, (capacity, list) => {
        const ring = new MinuteRing(capacity, 2);
        for (const { minute, value } of list) ring.add(minute, [value, 1]);
        const newest = Math.max(Number.NEGATIVE_INFINITY, ...list.map((a) => a.minute));
        for (let minute = -5; minute <= 40; minute++) {
          const held = minute > newest - capacity && minute <= newest;
          const mine = list.filter((a) => a.minute === minute);
          const expected = held ? [mine.reduce((s, a) => s + a.value, 0), mine.length] : [0, 0];
          expect([...ring.read(minute)]).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('hourlyRise adds each hour’s rise and never a fall', () => {
    const hours = fc.dictionary(
      fc.integer({ min: 0, max: 5 }).map(String),
      fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 3, maxLength: 3 }),
    );
    fc.assert(
      fc.property(hours, hours, (before, after) => {
        const toMap = (d: Record<string, number[]>) =>
          new Map(Object.entries(d).map(([h, v]) => [Number(h), v]));
        const rise = hourlyRise(toMap(before), toMap(after), 3);
        for (let i = 0; i < 3; i++) {
          let expected = 0;
          for (const [hour, values] of Object.entries(after)) {
            expected += Math.max(0, values[i]! - (before[hour]?.[i] ?? 0));
          }
          expect(rise[i]).toBe(expected);
        }
      }),
    );
    expect([...counterRise(null, [3, 4])]).toEqual([3, 4]);
    expect([...counterRise([5, 1], [3, 4])]).toEqual([0, 3]);
  });

  it('histogramQuantile lands in the bucket of the true quantile', () => {
    const bounds = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, Number.POSITIVE_INFINITY];
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 2, noNaN: true }), { minLength: 1, maxLength: 60 }),
        fc.constantFrom(0.5, 0.9, 0.95, 0.99),
        (observations, q) => {
          const cumulative = bounds.map((b) => observations.filter((o) => o <= b).length);
          const sorted = [...observations].sort((a, b) => a - b);
          const truth = sorted[Math.ceil(q * sorted.length) - 1]!;
          const bucket = bounds.findIndex((b) => truth <= b);
          const estimate = histogramQuantile(q, bounds, cumulative)!;
          if (bounds[bucket] === Number.POSITIVE_INFINITY) expect(estimate).toBe(1);
          else {
            expect(estimate).toBeGreaterThanOrEqual(bucket === 0 ? 0 : bounds[bucket - 1]!);
            expect(estimate).toBeLessThanOrEqual(bounds[bucket]!);
          }
        },
      ),
      { numRuns: 500 },
    );
    expect(histogramQuantile(0.5, bounds, new Array(bounds.length).fill(0))).toBeNull();
  });

  it('per-minute figures are the rises between samples, counted in the minute of the later sample', () => {
    const step = fc.record({
      advanceMs: fc.integer({ min: 0, max: 90_000 }),
      events: fc.integer({ min: 0, max: 20 }),
      hourOffset: fc.integer({ min: -1, max: 0 }),
      sent: fc.integer({ min: 0, max: 5 }),
      requests: fc.integer({ min: 0, max: 5 }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), (steps) => {
        const start = Date.parse('2026-11-11T15:50:00Z');
        const totals = new Map<number, number>();
        let sent = 0;
        let requests = 0;
        let clock = start;
        const reading = (): MonitorReading => ({
          atMs: clock,
          watermarkMs: null,
          hours: [...totals].map(([hourMs, events]) => ({ ...emptyHour(hourMs), events })),
          push: new Map([[Math.floor(clock / HOUR_MS) * HOUR_MS, pushVector({ ok: sent })]]),
          http: { requests, errors: 0, bounds: [], cumulative: new Float64Array(0) },
        });
        const monitor = new LiveMonitor({ read: async () => reading(), now: () => clock, sampleEveryMs: 1 });
        monitor.record(reading());
        const expected = new Map<number, { events: number; sent: number; requests: number }>();
        for (const s of steps) {
          clock += s.advanceMs;
          const hourMs = (Math.floor(clock / HOUR_MS) + s.hourOffset) * HOUR_MS;
          totals.set(hourMs, (totals.get(hourMs) ?? 0) + s.events);
          // Push counts restart with each hour's key, as the hourly hashes do.
          const sameHour = Math.floor(clock / HOUR_MS) === Math.floor((clock - s.advanceMs) / HOUR_MS);
          sent = (sameHour ? sent : 0) + s.sent;
          requests += s.requests;
          monitor.record(reading());
          const minute = Math.floor(clock / MINUTE_MS) * MINUTE_MS;
          const e = expected.get(minute) ?? { events: 0, sent: 0, requests: 0 };
          e.events += s.events;
          e.sent += s.sent;
          e.requests += s.requests;
          expected.set(minute, e);
        }
        const snapshot = monitor.snapshot(120)!;
        for (const m of snapshot.minutes) {
          const e = expected.get(Date.parse(m.minute)) ?? { events: 0, sent: 0, requests: 0 };
          expect({ events: m.events, sent: m.pushSent, requests: m.requests }).toEqual(e);
        }
        expect(snapshot.minutes.at(-1)!.minute).toBe(
          new Date(Math.floor(clock / MINUTE_MS) * MINUTE_MS).toISOString(),
        );
      }),
      { numRuns: 200 },
    );
  });
});

function emptyHour(hourMs: number): HourTotals {
  return { hourMs, events: 0, impressions: 0, clicks: 0, carts: 0, purchases: 0, units: 0, revenue: 0 };
}

function pushVector(counts: Partial<Record<(typeof PUSH_REASONS)[number], number>>) {
  return Float64Array.from(PUSH_REASONS, (reason) => counts[reason] ?? 0);
}

interface PostedEvent {
  userId: string;
  itemId: string;
  type: string;
  timestamp: number;
  recommendationId?: string;
  price?: number;
  quantity?: number;
}

/** What the monitor must show for `events`, counted one by one. */
function bruteForce(events: readonly PostedEvent[]) {
  const recommended = (e: PostedEvent) => e.recommendationId?.startsWith('r1.') === true;
  const purchases = events.filter((e) => e.type === 'purchase');
  return {
    events: events.length,
    impressions: events.filter((e) => e.type === 'impression' && recommended(e)).length,
    clicks: events.filter((e) => e.type === 'click' && recommended(e)).length,
    carts: events.filter((e) => e.type === 'cart').length,
    orders: purchases.length,
    units: purchases.reduce((s, e) => s + (e.quantity ?? 1), 0),
    revenue: Math.round(purchases.reduce((s, e) => s + (e.price ?? 0) * (e.quantity ?? 1), 0) * 100) / 100,
  };
}

describe('GET /v1/dashboard/monitor', () => {
  let infra: TestInfra;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  let ingest: IngestApp;
  /** 16:00:30 UTC: the events of the test fall in this hour and the one before. */
  const T0 = Date.parse('2026-11-11T16:00:30.000Z');
  let clock = T0;

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-monitor-api');
    api = await buildApiApp({ config: loadApiConfig(infra.env), now: () => clock });
    // A short safety lag: catching up waits for it after the last event posted.
    const ingestConfig = {
      ...loadIngestConfig({ ...infra.env, LOG_LEVEL: 'silent' }),
      ATTRIBUTION_SAFETY_LAG_MS: 20,
    };
    ingest = await buildIngestApp({ config: ingestConfig });
  });

  afterAll(async () => {
    await ingest?.close();
    await api?.close();
    await infra?.close();
  });

  it('serves uPlot from the api with year-long caching, and the page loads it', async () => {
    const page = await api.inject({ method: 'GET', url: '/dashboard' });
    expect(page.body).toContain(`/dashboard/assets/uplot-${UPLOT_VERSION}.min.js`);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const script = await api.inject({
      method: 'GET',
      url: `/dashboard/assets/uplot-${UPLOT_VERSION}.min.js`,
    });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toContain('text/javascript');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(script.body).toContain('uPlot');
    const css = await api.inject({ method: 'GET', url: `/dashboard/assets/uplot-${UPLOT_VERSION}.min.css` });
    expect(css.headers['content-type']).toContain('text/css');
  });

  it('shows per minute and per hour exactly what was posted, rolled up, decided and served', async () => {
    await api.monitor.sample();
    // Everything below happens in the next minute: whichever sample sees it counts it there.
    clock = T0 + MINUTE_MS;
    const answer = encodeRecommendationAnswerId(
      { modelVersion: 'v1', placement: 'home', experiment: null, arm: null, answeredAtMs: T0 },
      'mon001',
    );
    const push = encodePushAnswerId({ campaign: 'midnight', modelVersion: null, answeredAtMs: T0 }, 'mon002');
    const previousHour = T0 - 20 * MINUTE_MS;
    const events: PostedEvent[] = [];
    for (let u = 0; u < 6; u++) {
      const userId = `fan-${u}`;
      const at = u % 2 === 0 ? previousHour : T0;
      events.push(
        { userId, itemId: `i${u}`, type: 'impression', timestamp: at, recommendationId: answer },
        { userId, itemId: `i${u + 1}`, type: 'impression', timestamp: at, recommendationId: answer },
        { userId, itemId: 'other', type: 'impression', timestamp: at },
        { userId, itemId: `i${u}`, type: 'view', timestamp: at + 1_000 },
      );
      if (u < 4)
        events.push({
          userId,
          itemId: `i${u}`,
          type: 'click',
          timestamp: at + 2_000,
          recommendationId: answer,
        });
      if (u < 3) events.push({ userId, itemId: 'other', type: 'click', timestamp: at + 2_000 });
      if (u < 3) events.push({ userId, itemId: `i${u}`, type: 'cart', timestamp: at + 3_000 });
      if (u < 2) {
        events.push({
          userId,
          itemId: `i${u}`,
          type: 'purchase',
          timestamp: at + 4_000,
          price: 19.99,
          quantity: u + 1,
          recommendationId: push,
        });
      }
      if (u === 5)
        events.push({ userId, itemId: 'gift', type: 'purchase', timestamp: at + 5_000, price: 5.5 });
    }
    const posted = await ingest.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events },
    });
    expect(posted.statusCode, posted.body).toBeLessThan(300);
    await ingest.attribution.catchUp(Date.now());

    const rule = await api.inject({
      method: 'PUT',
      url: '/v1/push/rules/monitor-daily',
      payload: { channel: 'push', limit: 1, window: '24h' },
    });
    expect(rule.statusCode, rule.body).toBe(200);
    const reasons: string[] = [];
    for (const [userId, campaignId] of [
      ['p1', 'c1'],
      ['p1', 'c2'],
      ['p2', 'c1'],
      ['p2', 'c1'],
      ['p3', 'c3'],
    ] as const) {
      const decision = await api.inject({
        method: 'POST',
        url: '/v1/push/decisions',
        payload: { userId, channel: 'push', campaignId },
      });
      reasons.push(decision.json().reason);
    }
    expect(reasons).toEqual(['ok', 'cap_exceeded', 'ok', 'duplicate_campaign', 'ok']);
    const bad = await api.inject({ method: 'POST', url: '/v1/push/decisions', payload: { channel: 'push' } });
    expect(bad.statusCode).toBe(400);
    await api.monitor.sample();

    clock = T0 + 2 * MINUTE_MS;
    await api.monitor.sample();
    const response = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=3' });
    expect(response.statusCode, response.body).toBe(200);
    const snapshot = response.json();
    expect(snapshot.at).toBe(new Date(clock).toISOString());
    expect(snapshot.countedUntil).not.toBeNull();
    const [before, during, after] = snapshot.minutes;
    expect(snapshot.minutes.map((m: { minute: string }) => m.minute)).toEqual([
      '2026-11-11T16:00:00.000Z',
      '2026-11-11T16:01:00.000Z',
      '2026-11-11T16:02:00.000Z',
    ]);
    expect(before).toMatchObject({ events: 0, requests: 0, pushSent: 0 });
    const all = bruteForce(events);
    expect(during).toMatchObject({
      complete: true,
      events: all.events,
      impressions: all.impressions,
      clicks: all.clicks,
      ctr: all.clicks / all.impressions,
      orders: all.orders,
      revenue: all.revenue,
      pushSent: 3,
      pushSuppressed: {
        cap_exceeded: 1,
        duplicate_campaign: 1,
        quiet_hours: 0,
        no_consent: 0,
        unavailable: 0,
      },
      // The rule, five decisions and the bad request; the monitor's own reads are left out.
      requests: 7,
      errors: 0,
      errorRate: 0,
    });
    expect(during.latencyMs.p50).toBeGreaterThan(0);
    expect(during.latencyMs.p99).toBeGreaterThanOrEqual(during.latencyMs.p50);
    expect(after).toMatchObject({ complete: false, events: 0, requests: 0, latencyMs: null, ctr: null });

    expect(snapshot.hours).toHaveLength(24);
    expect(snapshot.hours.at(-1).hour).toBe('2026-11-11T16:00:00.000Z');
    for (const [hour, at] of [
      [snapshot.hours.at(-2), previousHour],
      [snapshot.hours.at(-1), T0],
    ]) {
      const own = bruteForce(
        events.filter((e) => Math.floor(e.timestamp / HOUR_MS) === Math.floor(at / HOUR_MS)),
      );
      expect(hour).toMatchObject({
        events: own.events,
        impressions: own.impressions,
        clicks: own.clicks,
        carts: own.carts,
        orders: own.orders,
        units: own.units,
        revenue: own.revenue,
      });
    }
    expect(snapshot.hours.slice(0, -2).every((h: { events: number }) => h.events === 0)).toBe(true);
  });

  it('refuses a bad window with the JSON error shape', async () => {
    for (const minutes of ['0', '121', 'many']) {
      const response = await api.inject({ method: 'GET', url: `/v1/dashboard/monitor?minutes=${minutes}` });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: 'bad_request' });
    }
  });
});
