import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { addRollups, createApiKey, type RollupRow, zeroRollupCounts } from '@elevens/db';
import { campaignAttributionKey } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOUR_MS = 3_600_000;
const BASE_MS = Date.parse('2026-11-11T00:00:00Z');
/** Too long for a push answer id whole: its events are counted under its attribution key. */
const LONG_CAMPAIGN = '2026-11-11-singles-day-midnight-flash-sale-push-notification-returning-buyers';

let infra: TestInfra;
let api: ApiApp;
let admin: string;

const get = (url: string) =>
  api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${admin}` } });
const windowOf = (fromMs: number, toMs: number) =>
  `from=${new Date(fromMs).toISOString()}&to=${new Date(toMs).toISOString()}`;

const pushRow = (hourMs: number, campaign: string, clicks: number): RollupRow => ({
  hourMs,
  kind: 'push',
  modelVersion: '',
  placement: '',
  experiment: '',
  arm: '',
  campaign,
  ...zeroRollupCounts(),
  events: clicks,
  clicks,
});

beforeAll(async () => {
  infra = await createTestInfra('reports-edges');
  admin = (await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] })).secret;
  api = await buildApiApp({
    config: loadApiConfig({ ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' }),
    now: () => BASE_MS,
  });
  // Clicks an hour after the push went out; its decisions were counted in the hour before (none stored here).
  await addRollups(infra.pool, [pushRow(BASE_MS + HOUR_MS, campaignAttributionKey(LONG_CAMPAIGN), 2)]);
});

afterAll(async () => {
  await api?.close();
  await infra.close();
});

describe('GET /v1/reports/push', () => {
  it('names the group of the campaign asked for by it, in a window without its decisions', async () => {
    const response = await get(
      `/v1/reports/push?${windowOf(BASE_MS + HOUR_MS, BASE_MS + 2 * HOUR_MS)}&campaign=${encodeURIComponent(LONG_CAMPAIGN)}`,
    );
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json();
    expect(report.campaign).toBe(LONG_CAMPAIGN);
    expect(report.groups).toEqual([expect.objectContaining({ group: LONG_CAMPAIGN, clicks: 2, sends: 0 })]);
  });
});
