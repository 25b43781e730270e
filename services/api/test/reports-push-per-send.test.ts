import { addRollups, type RollupRow, zeroRollupCounts } from '@elevens/db';
import type { PushReport } from '@elevens/domain';
import { pushStatsField } from '@elevens/redis-stores';
import { holmAdjusted, twoProportionP, wilsonInterval } from '@elevens/stats';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

const HOUR_MS = 3_600_000;
/** 20:00 UTC: the hour of the decisions and of most of the events that followed them. */
const SEND_MS = Date.parse('2026-11-11T20:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const WINDOW = `from=${iso(SEND_MS)}&to=${iso(SEND_MS + 2 * HOUR_MS)}`;

let infra: TestInfra;
let app: ApiApp;

const pushRow = (hourMs: number, campaign: string, counts: Partial<RollupRow>): RollupRow => ({
  hourMs,
  kind: 'push',
  modelVersion: '',
  placement: '',
  experiment: '',
  arm: '',
  campaign,
  ...zeroRollupCounts(),
  ...counts,
});

const report = async (query: string) => {
  const response = await app.inject({ method: 'GET', url: `/v1/reports/push?${query}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as PushReport;
};

beforeAll(async () => {
  infra = await createTestInfra('api-reports-push-per-send');
  app = await buildApiApp({ config: loadApiConfig(infra.env), now: () => SEND_MS + 3 * HOUR_MS });
  // Two campaigns of 2,000 sends each, as a marketer runs a test: the storefront posts the opens (clicks) and
  // what they sold, and an impression of hardly any push.
  const hourKey = infra.keys.pushStatsHour(SEND_MS / HOUR_MS);
  for (const [campaign, sends] of [
    ['control', 2_000],
    ['bold', 2_000],
    ['tiny', 2],
  ] as const)
    await infra.redis.hincrby(hourKey, pushStatsField('push', 'ok', campaign), sends);
  await addRollups(infra.pool, [
    pushRow(SEND_MS, 'control', {
      events: 91,
      impressions: 1,
      clicks: 80,
      purchases: 10,
      units: 10,
      revenue: 250,
      revenueSquares: 6_250,
    }),
    pushRow(SEND_MS, 'bold', {
      events: 150,
      clicks: 120,
      purchases: 30,
      units: 30,
      revenue: 600,
      revenueSquares: 12_000,
    }),
    // A push opened again and again: more clicks than sends.
    pushRow(SEND_MS, 'tiny', { events: 5, clicks: 5 }),
    // Opens of the next hour, whose hour holds no decision.
    pushRow(SEND_MS + HOUR_MS, 'bold', { events: 7, clicks: 7 }),
  ]);
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

describe('GET /v1/reports/push', () => {
  it('counts clicks, purchases and revenue per send, and compares the campaigns on their sends', async () => {
    const { groups, reference, pValue } = await report(`${WINDOW}&groupBy=campaign`);
    expect(reference).toBe('control');
    const [bold, control, tiny] = groups;
    expect(bold).toMatchObject({
      group: 'bold',
      sends: 2_000,
      impressions: 0,
      clicks: 127,
      clickRate: 127 / 2_000,
      clickInterval: wilsonInterval(127, 2_000),
      purchases: 30,
      conversionRate: 30 / 2_000,
      conversionInterval: wilsonInterval(30, 2_000),
      revenue: 600,
      revenuePerSend: 0.3,
    });
    expect(bold).not.toHaveProperty('ctr');
    expect(control).toMatchObject({ impressions: 1, clickRate: 0.04, pValue: null });
    // tiny's clicks exceed its sends: no p-value, and none for the family of comparisons either.
    expect(bold!.pValue).toBe(holmAdjusted([twoProportionP(127, 2_000, 80, 2_000)])[0]);
    expect(bold!.pValue).toBeLessThan(0.01);
    expect(bold!.revenuePValue).toBeLessThan(0.05);
    expect(tiny).toMatchObject({ sends: 2, clicks: 5, clickRate: 2.5, clickInterval: null, pValue: null });
    expect(pValue).toBe(twoProportionP(127, 2_000, 80, 2_000));
  });

  it('gives per hour the rate of the sends of that hour, and none for an hour without sends', async () => {
    const { groups } = await report(`${WINDOW}&groupBy=hour&campaign=bold`);
    expect(groups).toEqual([
      expect.objectContaining({
        group: iso(SEND_MS),
        sends: 2_000,
        clicks: 120,
        clickRate: 0.06,
        pValue: null,
      }),
      expect.objectContaining({
        group: iso(SEND_MS + HOUR_MS),
        sends: 0,
        clicks: 7,
        clickRate: null,
        clickInterval: null,
      }),
    ]);
  });

  it('answers bad queries with a 400', async () => {
    for (const query of [
      'from=yesterday&to=today',
      `${WINDOW}&groupBy=arm`,
      `${WINDOW}&campaign=${'x'.repeat(300)}`,
      `from=${iso(SEND_MS)}&to=${iso(SEND_MS)}`,
    ]) {
      const response = await app.inject({ method: 'GET', url: `/v1/reports/push?${query}` });
      expect(response.statusCode, query).toBe(400);
      expect(response.json(), query).toMatchObject({ error: 'bad_request' });
    }
  });
});
