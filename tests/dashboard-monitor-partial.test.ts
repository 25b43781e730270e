import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LiveMonitor, type MonitorReading } from '../services/api/src/dashboard/monitor';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

describe('a monitor source that cannot be read', () => {
  const start = Date.parse('2026-11-11T16:00:00Z');
  const hourMs = Math.floor(start / HOUR_MS) * HOUR_MS;
  /** Samples every 2 s; `events` is the roll-ups' running total, null while Postgres is away. */
  function run(steps: readonly (number | null)[]) {
    let clock = start;
    const reading = (events: number | null): MonitorReading => ({
      atMs: clock,
      watermarkMs: null,
      hours:
        events === null
          ? null
          : [{ hourMs, events, impressions: 0, clicks: 0, carts: 0, purchases: 0, units: 0, revenue: 0 }],
      push: new Map(),
      http: null,
    });
    const monitor = new LiveMonitor({ read: async () => reading(0), now: () => clock, sampleEveryMs: 2_000 });
    for (const events of steps) {
      monitor.record(reading(events));
      clock += 2_000;
    }
    return monitor.snapshot(120)!;
  }

  it('loses nothing to a read that fails once: the next rise covers it', () => {
    const snapshot = run([0, 5, null, 9, 12]);
    expect(snapshot.minutes).toHaveLength(1);
    expect(snapshot.minutes[0]).toMatchObject({ unavailable: ['http'], events: 12, pushSent: 0 });
    expect(snapshot.sources.rollups).toEqual({ available: true, readAt: '2026-11-11T16:00:08.000Z' });
  });

  it('blanks the minutes of a longer gap and drops the rise that spans it, not charting it as a spike', () => {
    const away = new Array<null>(60).fill(null);
    // Read again at 16:02:04, then one more event every 2 s.
    const back = Array.from({ length: 31 }, (_, i) => 500 + i);
    const snapshot = run([0, 5, ...away, ...back]);
    expect(snapshot.minutes).toHaveLength(4);
    for (const minute of snapshot.minutes.slice(0, 3))
      expect(minute).toMatchObject({ unavailable: ['rollups', 'http'], events: null });
    // The rises after the baseline taken on return count again.
    expect(snapshot.minutes[3]).toMatchObject({ unavailable: ['http'], events: 3, pushSent: 0 });
  });

  it('says a source is unavailable while its gap lasts, with when it was last read', () => {
    const snapshot = run([0, 5, null, null, null, null]);
    expect(snapshot.sources.rollups).toEqual({ available: false, readAt: '2026-11-11T16:00:02.000Z' });
    expect(snapshot.minutes[0]).toMatchObject({ unavailable: ['rollups', 'http'], events: null });
  });
});

describe('live monitor with Redis away', () => {
  let infra: TestInfra;
  let proxy: TcpProxy;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  let ingest: IngestApp;
  const T0 = Date.parse('2026-11-11T16:00:30.000Z');
  let clock = T0;

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-monitor-partial');
    // The api reaches Redis through a proxy the test can stop; ingest directly.
    proxy = await startTcpProxy(infra.redisUrl);
    const apiEnv = { ...infra.env, REDIS_URL: proxy.url(infra.redisUrl), REDIS_COMMAND_TIMEOUT: '200ms' };
    api = await buildApiApp({ config: loadApiConfig(apiEnv), now: () => clock });
    ingest = await buildIngestApp({
      config: { ...loadIngestConfig({ ...infra.env, LOG_LEVEL: 'silent' }), ATTRIBUTION_SAFETY_LAG_MS: 20 },
    });
  });

  afterAll(async () => {
    await ingest?.close();
    await api?.close();
    await proxy?.close();
    await infra?.close();
  });

  it('serves the roll-ups from Postgres, says push is unavailable, and shows no push figures for the minutes it could not read', async () => {
    await api.monitor.sample();
    await proxy.refuse();
    try {
      clock += MINUTE_MS;
      const events = [0, 1, 2].map((u) => ({
        userId: `partial-${u}`,
        itemId: `i${u}`,
        type: 'purchase',
        timestamp: T0,
        price: 10,
        quantity: 1,
      }));
      const posted = await ingest.inject({ method: 'POST', url: '/v1/events', payload: { events } });
      expect(posted.statusCode, posted.body).toBeLessThan(300);
      await ingest.attribution.catchUp(Date.now());
      await api.monitor.sample();
      clock += 5 * MINUTE_MS;

      const away = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=10' });
      expect(away.statusCode, away.body).toBe(200);
      const snapshot = away.json();
      expect(snapshot.sources.rollups).toEqual({ available: true, readAt: new Date(clock).toISOString() });
      expect(snapshot.sources.push).toEqual({ available: false, readAt: new Date(T0).toISOString() });
      expect(snapshot.sources.http.available).toBe(true);
      const hourStart = new Date(Math.floor(T0 / HOUR_MS) * HOUR_MS).toISOString();
      expect(snapshot.hours.at(-1)).toMatchObject({ hour: hourStart, orders: 3, revenue: 30 });
      // The roll-ups rose while Redis was away: their minute shows it; push figures are unknown, not 0.
      const minutes = snapshot.minutes;
      expect(minutes.reduce((sum: number, m: { orders: number }) => sum + m.orders, 0)).toBe(3);
      for (const m of minutes) {
        expect(m.pushSent).toBeNull();
        expect(m.pushSuppressed).toBeNull();
      }
    } finally {
      await proxy.restore();
    }
  });

  it('reads push again once Redis is back, its figures resuming from a new baseline', async () => {
    clock += MINUTE_MS;
    // The client reconnects on its own schedule: sample until it has.
    await vi.waitFor(
      async () => {
        await api.monitor.sample();
        const back = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=2' });
        expect(back.statusCode, back.body).toBe(200);
        expect(back.json().sources.push).toEqual({ available: true, readAt: new Date(clock).toISOString() });
      },
      { timeout: 10_000, interval: 100 },
    );
    clock += MINUTE_MS;
    await api.monitor.sample();
    const later = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=1' });
    expect(later.json().minutes.at(-1).pushSent).toBe(0);
  });
});
