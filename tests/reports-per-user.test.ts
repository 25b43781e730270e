import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey, eraseUser, readRollupGroups } from '@elevens/db';
import { encodeRecommendationAnswerId, type RecommendationsReport } from '@elevens/domain';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { twoProportionP } from '@elevens/stats';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOUR_MS = 3_600_000;
const BASE_MS = Date.parse('2026-11-11T01:00:00Z');
const HEAVY_USER = 'b-heavy';

let infra: TestInfra;
let api: ApiApp;
let ingest: IngestApp;
let admin: string;

/** One user's answers: `impressions` shown over two hours, the first `clicks` of them clicked, `purchases` bought. */
interface Shopper {
  userId: string;
  arm: string;
  impressions: number;
  clicks: number;
  purchases: number;
}

// 40 users an arm, 10 impressions each, half of them clicking one; one user of arm b instead sees 150
// recommendations and clicks every one: per impression b looks far better, per user it is one user.
const shoppers: Shopper[] = [
  ...Array.from({ length: 40 }, (_, i) => ({
    userId: `control-${i}`,
    arm: 'control',
    impressions: 10,
    clicks: i % 2,
    purchases: i % 8 === 0 ? 1 : 0,
  })),
  ...Array.from({ length: 39 }, (_, i) => ({
    userId: `b-${i}`,
    arm: 'b',
    impressions: 10,
    clicks: i % 2,
    purchases: i % 8 === 0 ? 1 : 0,
  })),
  { userId: HEAVY_USER, arm: 'b', impressions: 150, clicks: 150, purchases: 3 },
];

function eventsOf(s: Shopper): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < s.impressions; i++) {
    const atMs = BASE_MS + ((i * 7_919) % (2 * HOUR_MS - 120_000));
    const recommendationId = encodeRecommendationAnswerId({
      modelVersion: 'v1',
      placement: 'home',
      experiment: 'heavy',
      arm: s.arm,
      answeredAtMs: atMs,
    });
    const itemId = `item-${i}`;
    events.push({ userId: s.userId, itemId, type: 'impression', timestamp: atMs, recommendationId });
    if (i < s.clicks)
      events.push({ userId: s.userId, itemId, type: 'click', timestamp: atMs + 1_000, recommendationId });
    // No recommendationId: the last touch of the item attributes it.
    if (i < s.purchases)
      events.push({ userId: s.userId, itemId, type: 'purchase', timestamp: atMs + 60_000, price: 12.5 });
  }
  return events;
}

const report = async (): Promise<RecommendationsReport> => {
  const window = `from=${new Date(BASE_MS).toISOString()}&to=${new Date(BASE_MS + 3 * HOUR_MS).toISOString()}`;
  const response = await api.inject({
    method: 'GET',
    url: `/v1/reports/recommendations?${window}&experiment=heavy`,
    headers: { authorization: `Bearer ${admin}` },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

beforeAll(async () => {
  infra = await createTestInfra('reports-per-user');
  admin = (await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] })).secret;
  api = await buildApiApp({
    config: loadApiConfig({ ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' }),
    now: () => BASE_MS,
  });
  ingest = await buildIngestApp({
    config: { ...loadIngestConfig({ ...infra.env, LOG_LEVEL: 'error' }), ATTRIBUTION_SAFETY_LAG_MS: 20 },
  });
  const events = shoppers.flatMap(eventsOf);
  for (let i = 0; i < events.length; i += 500) {
    const response = await ingest.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events: events.slice(i, i + 500) },
    });
    expect(response.statusCode, response.body).toBeLessThan(300);
  }
  await ingest.attribution.catchUp(Date.now());
});

afterAll(async () => {
  await ingest?.close();
  await api?.close();
  await infra.close();
});

describe('experiment reports per user', () => {
  it('sums each arm per user in SQL: the moments of the users as sent', async () => {
    const groups = await readRollupGroups(infra.pool, {
      fromMs: BASE_MS,
      toMs: BASE_MS + 3 * HOUR_MS,
      kinds: ['recommendation'],
      groupBy: 'arm',
      experiment: 'heavy',
    });
    for (const group of groups) {
      const users = shoppers.filter((s) => s.arm === group.group);
      const sum = (f: (s: Shopper) => number) => users.reduce((total, s) => total + f(s), 0);
      expect(group.users).toEqual({
        users: users.length,
        impressions: sum((s) => s.impressions),
        impressionSquares: sum((s) => s.impressions ** 2),
        clicks: {
          sum: sum((s) => s.clicks),
          squares: sum((s) => s.clicks ** 2),
          crossProducts: sum((s) => s.clicks * s.impressions),
        },
        purchases: {
          sum: sum((s) => s.purchases),
          squares: sum((s) => s.purchases ** 2),
          crossProducts: sum((s) => s.purchases * s.impressions),
        },
        revenue: {
          sum: sum((s) => s.purchases * 12.5),
          squares: sum((s) => (s.purchases * 12.5) ** 2),
          crossProducts: sum((s) => s.purchases * 12.5 * s.impressions),
        },
      });
    }
    expect(groups.map((g) => g.group)).toEqual(['b', 'control']);
  });

  it('finds no winner in one heavy user, where a test per impression does', async () => {
    const answer = await report();
    expect(answer.testedPer).toBe('user');
    const [b, control] = answer.arms!;
    expect([b!.arm, b!.users, control!.arm, control!.users]).toEqual(['b', 40, 'control', 40]);
    expect(b!.clicks).toBe(169);
    expect(twoProportionP(b!.clicks, b!.impressions, control!.clicks, control!.impressions)).toBeLessThan(
      1e-6,
    );
    expect(b!.pValue).toBeGreaterThan(0.05);
    expect(answer.pValue).toBe(b!.pValue);
    expect(b!.ctrInterval![0]).toBeLessThan(control!.ctr!);
  });

  it('erases a user from the per-user roll-ups; until a rebuild the report tests per impression', async () => {
    const rowsOf = async (userId: string) =>
      (await infra.pool.query('SELECT 1 FROM attribution_user_rollups WHERE user_id = $1', [userId]))
        .rowCount;
    expect(await rowsOf(HEAVY_USER)).toBeGreaterThan(0);
    await eraseUser(infra.pool, HEAVY_USER, async () => undefined);
    expect(await rowsOf(HEAVY_USER)).toBe(0);
    expect(await rowsOf('b-0')).toBeGreaterThan(0);
    // The hourly roll-ups still count the erased user's events, the per-user ones no longer: they disagree.
    const answer = await report();
    expect(answer.testedPer).toBe('impression');
    expect(answer.arms!.every((arm) => arm.users === null)).toBe(true);
  });
});
