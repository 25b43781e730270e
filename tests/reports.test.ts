import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey } from '@elevens/db';
import {
  assignArm,
  decodeAnswerId,
  encodePushAnswerId,
  encodeRecommendationAnswerId,
  type RecommendationsReport,
} from '@elevens/domain';
import { createRng } from '@elevens/generator';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { pushStatsField } from '@elevens/redis-stores';
import { ratioDifferenceP } from '@elevens/stats';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOUR_MS = 3_600_000;
const BASE_MS = Date.parse('2026-11-10T22:00:00Z');
const ARMS = [
  { name: 'control', share: 0.5 },
  { name: 'b', share: 0.5, settings: { historyHalfLifeHours: 72 } },
];
/** Users click what arm b shows more often: the report must find it. */
const CLICK_RATE: Record<string, number> = { control: 0.05, b: 0.075 };
const USERS = 3_000;
const LONG_CAMPAIGN_BEGINNING = '2026-11-11-singles-day-midnight-flash-sale-push-notification-segment-';
const LONG_CAMPAIGNS = [`${LONG_CAMPAIGN_BEGINNING}returning-buyers`, `${LONG_CAMPAIGN_BEGINNING}new-buyers`];

let infra: TestInfra;
let api: ApiApp;
let ingest: IngestApp;
let admin: string;

const get = (url: string) =>
  api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${admin}` } });
const window = `from=${new Date(BASE_MS - HOUR_MS).toISOString()}&to=${new Date(BASE_MS + 6 * HOUR_MS).toISOString()}`;

beforeAll(async () => {
  infra = await createTestInfra('reports');
  admin = (await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] })).secret;
  api = await buildApiApp({
    config: loadApiConfig({ ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' }),
    now: () => BASE_MS,
  });
  const config = { ...loadIngestConfig({ ...infra.env, LOG_LEVEL: 'error' }), ATTRIBUTION_SAFETY_LAG_MS: 20 };
  ingest = await buildIngestApp({ config });

  // A simulated population: every user sees answers of the arm they are assigned to, clicks at that arm's
  // rate and sometimes buys what they clicked (the purchase carries no recommendationId: last touch finds it).
  const rng = createRng(11);
  const events: Record<string, unknown>[] = [];
  for (let u = 0; u < USERS; u++) {
    const userId = `user-${u}`;
    const arm = assignArm('halflife', userId, ARMS).name;
    for (let answer = 0; answer < 4; answer++) {
      const atMs = BASE_MS + rng.nextInt(5 * HOUR_MS);
      const recommendationId = encodeRecommendationAnswerId({
        modelVersion: arm === 'b' ? 'v-b' : 'v-a',
        placement: answer % 2 === 0 ? 'home' : 'product',
        experiment: 'halflife',
        arm,
        answeredAtMs: atMs,
      });
      for (let slot = 0; slot < 5; slot++) {
        const itemId = `item-${rng.nextInt(200)}`;
        events.push({ userId, itemId, type: 'impression', timestamp: atMs, recommendationId });
        if (rng.next() < CLICK_RATE[arm]!) {
          events.push({ userId, itemId, type: 'click', timestamp: atMs + 1_000, recommendationId });
          if (rng.next() < 0.3)
            events.push({
              userId,
              itemId,
              type: 'purchase',
              timestamp: atMs + 60_000,
              price: 20,
              quantity: 2,
            });
        }
      }
    }
  }
  // A push campaign whose click came back with the decision's id, and one unattributable view.
  const pushId = encodePushAnswerId({ campaign: 'midnight', modelVersion: null, answeredAtMs: BASE_MS });
  events.push({
    userId: 'p1',
    itemId: 'item-1',
    type: 'impression',
    timestamp: BASE_MS,
    recommendationId: pushId,
  });
  events.push({
    userId: 'p1',
    itemId: 'item-1',
    type: 'click',
    timestamp: BASE_MS + 5,
    recommendationId: pushId,
  });
  events.push({ userId: 'p1', itemId: 'item-1', type: 'purchase', timestamp: BASE_MS + 9, price: 5 });
  events.push({ userId: 'p2', itemId: 'item-2', type: 'view', timestamp: BASE_MS });
  // Two campaigns too long for a push answer id whole, sharing their first 70 characters.
  for (const [index, campaign] of LONG_CAMPAIGNS.entries()) {
    const id = encodePushAnswerId({
      campaign,
      modelVersion: '20261111T000000Z-a1b2c3',
      answeredAtMs: BASE_MS,
    });
    for (let click = 0; click <= index; click++)
      events.push({
        userId: `long-${index}`,
        itemId: 'item-3',
        type: 'click',
        timestamp: BASE_MS + click,
        recommendationId: id,
      });
  }
  for (let i = 0; i < events.length; i += 1_000) {
    const response = await ingest.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events: events.slice(i, i + 1_000) },
    });
    expect(response.statusCode, response.body).toBe(200);
  }
  await ingest.attribution.catchUp(Date.now());
  // Decision counters as the api's push stats flush leaves them: an hourly hash per (channel, reason, campaign).
  const statsKey = infra.keys.pushStatsHour(Math.floor(BASE_MS / HOUR_MS));
  await infra.redis.hincrby(statsKey, pushStatsField('push', 'ok', 'midnight'), 40);
  await infra.redis.hincrby(statsKey, pushStatsField('push', 'quiet_hours', 'midnight'), 7);
  await infra.redis.hincrby(statsKey, pushStatsField('push', 'cap_exceeded', 'other'), 3);
  for (const [index, campaign] of LONG_CAMPAIGNS.entries())
    await infra.redis.hincrby(statsKey, pushStatsField('push', 'ok', campaign), 10 * (index + 1));
}, 120_000);

afterAll(async () => {
  await api?.close();
  await ingest?.close();
  await infra.close();
});

describe('GET /v1/reports/recommendations', () => {
  it('finds the better arm, with counts equal to a count over the raw events', async () => {
    const response = await get(`/v1/reports/recommendations?${window}&experiment=halflife`);
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json() as RecommendationsReport;
    expect(report.arms!.map((a) => a.arm)).toEqual(['b', 'control']);
    expect(report.reference).toBe('control');
    expect(report.pValue).toBeLessThan(0.05);
    const [b, control] = report.arms!;
    expect(b!.ctr!).toBeGreaterThan(control!.ctr!);
    // Arms randomise users: each user's clicks and impressions over the window are one sample.
    expect(report.testedPer).toBe('user');
    const { rows: perUser } = await infra.pool.query<{
      user_id: string;
      answer: string;
      n: number;
      c: number;
    }>(
      `SELECT user_id, min(recommendation_id) AS answer, count(*) FILTER (WHERE type = 'impression') AS n,
              count(*) FILTER (WHERE type = 'click') AS c
       FROM events WHERE recommendation_id LIKE 'r1.%' GROUP BY user_id`,
    );
    const momentsOf = (arm: string) => {
      const users = perUser.filter((u) => decodeAnswerId(u.answer).arm === arm);
      return {
        users: users.length,
        numerator: users.reduce((sum, u) => sum + u.c, 0),
        denominator: users.reduce((sum, u) => sum + u.n, 0),
        numeratorSquares: users.reduce((sum, u) => sum + u.c * u.c, 0),
        denominatorSquares: users.reduce((sum, u) => sum + u.n * u.n, 0),
        crossProducts: users.reduce((sum, u) => sum + u.c * u.n, 0),
      };
    };
    expect(b!.users).toBe(momentsOf('b').users);
    expect(b!.pValue).toBeCloseTo(ratioDifferenceP(momentsOf('b'), momentsOf('control'))!, 12);
    expect(report.pValue).toBeCloseTo(b!.pValue!, 12);

    const { rows } = await infra.pool.query<{ recommendation_id: string; type: string; n: number }>(
      "SELECT recommendation_id, type, count(*) AS n FROM events WHERE recommendation_id LIKE 'r1.%' GROUP BY 1, 2",
    );
    for (const arm of report.arms!) {
      const count = (type: string) =>
        rows
          .filter((r) => r.type === type && decodeAnswerId(r.recommendation_id).arm === arm.arm)
          .reduce((sum, r) => sum + r.n, 0);
      expect(arm.impressions).toBe(count('impression'));
      expect(arm.clicks).toBe(count('click'));
      expect(arm.ctrInterval![0]).toBeLessThan(arm.ctr!);
      expect(arm.ctrInterval![1]).toBeGreaterThan(arm.ctr!);
    }
    // Every purchase followed a click of the same answer: attributed by last touch, revenue = price × quantity.
    const { rows: purchases } = await infra.pool.query<{ n: number }>(
      "SELECT count(*) AS n FROM events WHERE type = 'purchase' AND user_id LIKE 'user-%'",
    );
    expect(b!.purchases + control!.purchases).toBe(purchases[0]!.n);
    expect(b!.revenue + control!.revenue).toBe(purchases[0]!.n * 40);
    expect(report.countedUntil).not.toBeNull();
  });

  it('groups by hour, model version and placement', async () => {
    const byHour = (
      await get(`/v1/reports/recommendations?${window}&groupBy=hour`)
    ).json() as RecommendationsReport;
    expect(byHour.groups.length).toBeGreaterThanOrEqual(5);
    expect(byHour.groups[0]!.group).toMatch(/^2026-11-10T22:00:00\.000Z$/);
    expect(byHour.pValue).toBeNull();
    const byVersion = (await get(`/v1/reports/recommendations?${window}&groupBy=modelVersion`)).json();
    expect(byVersion.groups.map((g: { group: string }) => g.group)).toEqual(['v-a', 'v-b']);
    const home = (await get(`/v1/reports/recommendations?${window}&groupBy=placement&placement=home`)).json();
    expect(home.groups.map((g: { group: string }) => g.group)).toEqual(['home']);
  });

  it('refuses bad windows and unknown groupings with 400', async () => {
    for (const query of [
      'from=2026-11-11T00:00:00Z&to=2026-11-10T00:00:00Z',
      'from=2020-01-01T00:00:00Z&to=2026-11-10T00:00:00Z',
      `${window}&groupBy=colour`,
      `${window}&experiment=${'x'.repeat(50)}`,
      'to=2026-11-10T00:00:00Z',
    ]) {
      const response = await get(`/v1/reports/recommendations?${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(response.json()).toMatchObject({ error: 'bad_request' });
    }
  });
});

describe('GET /v1/reports/push', () => {
  it('joins decisions by reason with the events attributed to the campaign', async () => {
    const response = await get(`/v1/reports/push?${window}`);
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json();
    const midnight = report.groups.find((g: { group: string }) => g.group === 'midnight');
    expect(midnight).toMatchObject({
      impressions: 1,
      clicks: 1,
      purchases: 1,
      revenue: 5,
      sends: 40,
      suppressed: { quiet_hours: 7 },
      // A push is sent: its opens and sales are counted per send, not per impression posted.
      clickRate: 1 / 40,
      conversionRate: 1 / 40,
      revenuePerSend: 5 / 40,
    });
    expect(report.groups.find((g: { group: string }) => g.group === 'other')).toMatchObject({
      sends: 0,
      suppressed: { cap_exceeded: 3 },
      impressions: 0,
    });
    const byHour = (await get(`/v1/reports/push?${window}&groupBy=hour&campaign=midnight`)).json();
    expect(byHour.groups).toEqual([
      expect.objectContaining({ group: new Date(BASE_MS).toISOString(), sends: 40, clicks: 1 }),
    ]);
  });

  it('names the events of a campaign too long for its answer ids by the campaign, apart from one sharing its beginning', async () => {
    const report = (await get(`/v1/reports/push?${window}`)).json();
    // One row per campaign: no second row under the key its answer ids carry.
    expect(
      report.groups.filter((g: { group: string | null }) => g.group?.startsWith(LONG_CAMPAIGN_BEGINNING)),
    ).toHaveLength(LONG_CAMPAIGNS.length);
    for (const [index, campaign] of LONG_CAMPAIGNS.entries()) {
      expect(report.groups.find((g: { group: string }) => g.group === campaign)).toMatchObject({
        clicks: index + 1,
        sends: 10 * (index + 1),
      });
      const byHour = (
        await get(`/v1/reports/push?${window}&groupBy=hour&campaign=${encodeURIComponent(campaign)}`)
      ).json();
      expect(byHour.groups).toEqual([
        expect.objectContaining({
          group: new Date(BASE_MS).toISOString(),
          sends: 10 * (index + 1),
          clicks: index + 1,
        }),
      ]);
    }
  });
});
