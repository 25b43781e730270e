import { buildApiApp, loadApiConfig } from '@elevens/api';
import { encodeRecommendationAnswerId } from '@elevens/domain';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

describe('live monitor against the reports, and with Postgres away', () => {
  let infra: TestInfra;
  let proxy: TcpProxy;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  let ingest: IngestApp;
  const T0 = Date.parse('2026-11-11T16:00:30.000Z');
  let clock = T0;

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-monitor-agreement');
    // The api reaches Postgres through a proxy the test can stop; ingest directly.
    proxy = await startTcpProxy(infra.databaseUrl);
    const apiEnv = { ...infra.env, DATABASE_URL: proxy.url(infra.databaseUrl) };
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

  it('counts the hour’s recommendation impressions, clicks and CTR as /v1/reports/recommendations does', async () => {
    const ours = encodeRecommendationAnswerId(
      { modelVersion: 'v1', placement: 'home', experiment: null, arm: null, answeredAtMs: T0 },
      'agr001',
    );
    // A storefront still sending its own answer ids (from before ours said anything): the reports count them.
    const legacy = 'legacy-answer-7f3a';
    const events = [];
    for (let u = 0; u < 4; u++) {
      const userId = `agree-${u}`;
      events.push(
        { userId, itemId: `i${u}`, type: 'impression', timestamp: T0, recommendationId: ours },
        { userId, itemId: `j${u}`, type: 'impression', timestamp: T0, recommendationId: legacy },
        { userId, itemId: `k${u}`, type: 'impression', timestamp: T0, recommendationId: legacy },
      );
      if (u < 1)
        events.push({ userId, itemId: `i${u}`, type: 'click', timestamp: T0, recommendationId: ours });
      if (u < 3)
        events.push({ userId, itemId: `j${u}`, type: 'click', timestamp: T0, recommendationId: legacy });
    }
    const posted = await ingest.inject({ method: 'POST', url: '/v1/events', payload: { events } });
    expect(posted.statusCode, posted.body).toBeLessThan(300);
    await ingest.attribution.catchUp(Date.now());
    await api.monitor.sample();

    const hourStart = new Date(Math.floor(T0 / HOUR_MS) * HOUR_MS).toISOString();
    const hourEnd = new Date((Math.floor(T0 / HOUR_MS) + 1) * HOUR_MS).toISOString();
    const report = await api.inject({
      method: 'GET',
      url: `/v1/reports/recommendations?groupBy=hour&from=${hourStart}&to=${hourEnd}`,
    });
    expect(report.statusCode, report.body).toBe(200);
    const [reported] = report.json().groups;
    expect(reported).toMatchObject({ group: hourStart, impressions: 12, clicks: 4 });

    const monitor = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=5' });
    expect(monitor.statusCode, monitor.body).toBe(200);
    const hour = monitor.json().hours.at(-1);
    expect(hour.hour).toBe(hourStart);
    expect({ impressions: hour.impressions, clicks: hour.clicks, ctr: hour.ctr }).toEqual({
      impressions: reported.impressions,
      clicks: reported.clicks,
      ctr: reported.ctr,
    });
  });

  it('with Postgres away serves what it can read, says the roll-ups are unavailable and never charts them as live', async () => {
    await api.monitor.sample();
    const live = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=5' });
    expect(live.statusCode, live.body).toBe(200);
    expect(live.json().at).toBe(new Date(clock).toISOString());
    const readAt = new Date(clock).toISOString();

    await proxy.refuse();
    try {
      clock += 5 * MINUTE_MS;
      await api.monitor.sample();
      const away = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=5' });
      expect(away.statusCode, away.body).toBe(200);
      const snapshot = away.json();
      expect(snapshot.at).toBe(new Date(clock).toISOString());
      expect(snapshot.sources).toEqual({
        rollups: { available: false, readAt },
        push: { available: true, readAt: new Date(clock).toISOString() },
        http: { available: true, readAt: new Date(clock).toISOString() },
      });
      // The hours as last read, not emptied; the minutes since, blank rather than 0.
      expect(snapshot.hours).toEqual(live.json().hours);
      const current = snapshot.minutes.at(-1);
      expect(current).toMatchObject({ unavailable: ['rollups'], events: null, orders: null, revenue: null });
      expect(current.pushSent).toBe(0);
    } finally {
      await proxy.restore();
    }

    // Back: the next sample reads the roll-ups again.
    await vi.waitFor(
      async () => {
        await api.monitor.sample();
        const back = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=5' });
        expect(back.statusCode, back.body).toBe(200);
        expect(back.json().sources.rollups.available).toBe(true);
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});
