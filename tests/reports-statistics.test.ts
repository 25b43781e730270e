import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { addRollups, createApiKey, type RollupRow, zeroRollupCounts } from '@elevens/db';
import type { RecommendationsReport } from '@elevens/domain';
import { holmAdjusted, twoProportionP } from '@elevens/stats';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOUR_MS = 3_600_000;
const BASE_MS = Date.parse('2026-11-11T00:00:00Z');

let infra: TestInfra;
let api: ApiApp;
let admin: string;

const report = async (experiment: string): Promise<RecommendationsReport> => {
  const window = `from=${new Date(BASE_MS).toISOString()}&to=${new Date(BASE_MS + HOUR_MS).toISOString()}`;
  const response = await api.inject({
    method: 'GET',
    url: `/v1/reports/recommendations?${window}&experiment=${experiment}`,
    headers: { authorization: `Bearer ${admin}` },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

const armRow = (experiment: string, arm: string, impressions: number, clicks: number, purchases: number) =>
  ({
    hourMs: BASE_MS,
    kind: 'recommendation',
    modelVersion: 'v1',
    placement: 'home',
    experiment,
    arm,
    campaign: '',
    ...zeroRollupCounts(),
    events: impressions + clicks + purchases,
    impressions,
    clicks,
    purchases,
    units: purchases,
    revenue: purchases * 10,
    revenueSquares: purchases * 100,
  }) satisfies RollupRow;

beforeAll(async () => {
  infra = await createTestInfra('reports-statistics');
  admin = (await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] })).secret;
  api = await buildApiApp({
    config: loadApiConfig({ ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' }),
    now: () => BASE_MS,
  });
  await addRollups(infra.pool, [
    // Four arms no better than control; arm a looks better by chance (p = 0.046 on its own).
    armRow('fourway', 'a', 10_000, 542, 30),
    armRow('fourway', 'b', 10_000, 505, 30),
    armRow('fourway', 'c', 10_000, 498, 30),
    armRow('fourway', 'control', 10_000, 480, 30),
    armRow('fourway', 'd', 10_000, 470, 30),
    // A new experiment's first conversions: five in one arm, none in the other.
    armRow('early', 'b', 1_000, 50, 5),
    armRow('early', 'control', 1_000, 50, 0),
  ]);
});

afterAll(async () => {
  await api?.close();
  await infra.close();
});

describe('GET /v1/reports/recommendations statistics', () => {
  it("adjusts each arm's p-value for the number of arms compared with control", async () => {
    const { arms } = await report('fourway');
    const control = arms!.find((a) => a.arm === 'control')!;
    const raw = arms!.map((a) =>
      a === control ? null : twoProportionP(a.clicks, a.impressions, control.clicks, control.impressions),
    );
    expect(raw[0]).toBeLessThan(0.05);
    expect(arms!.map((a) => a.pValue)).toEqual(holmAdjusted(raw));
    expect(arms![0]!.pValue).toBeGreaterThan(0.05);
  });

  it("tests a handful of conversions exactly (Fisher's test), not by the normal approximation", async () => {
    // The z-test says p = 0.025; five conversions all falling in one of two equal arms has p = 0.062.
    const { conversionPValue } = await report('early');
    expect(conversionPValue).toBeGreaterThan(0.06);
    expect(conversionPValue).toBeLessThan(0.063);
  });
});
