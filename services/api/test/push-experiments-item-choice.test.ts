import type { PushDecisionReply, RecommendationsReply } from '@elevens/domain';
import { recordLiveEvents } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { publishFixtureModel, testApiConfig } from './recommendations-fixtures';

let infra: TestInfra;
let app: ApiApp;
/** Decisions, quiet hours and experiment windows are evaluated at this instant, whatever the time of day. */
const NOW = Date.parse('2026-11-11T12:00:00.000Z');

beforeAll(async () => {
  infra = await createTestInfra('api-push-experiments-item-choice');
  app = await buildApiApp({ config: testApiConfig(infra.env), now: () => NOW });
  await publishFixtureModel(infra.redis, infra.keys);
  await app.model.refresh();
});

afterAll(async () => {
  await app?.close();
  await infra.close();
});

const recommendation = async (userId: string): Promise<RecommendationsReply> => {
  const response = await app.inject({ method: 'GET', url: `/v1/recommendations?userId=${userId}&limit=5` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

const pushedItem = async (userId: string): Promise<string | undefined> => {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    payload: { userId, channel: 'push', campaignId: 'festival', withItem: true, dryRun: true },
  });
  expect(response.statusCode, response.body).toBe(200);
  return (response.json() as PushDecisionReply).item?.itemId;
};

describe('push item choice and experiments', () => {
  it('features the default model’s item for users of every arm of an experiment on home', async () => {
    const users = Array.from({ length: 40 }, (_, i) => `shopper-${i}`);
    for (const userId of users)
      await recordLiveEvents(infra.redis, infra.keys, [
        { userId, itemId: 'a0', type: 'view', timestampMs: NOW - 3_600_000 },
      ]);
    // Outside any experiment: the item the default model gives each user.
    const defaultItem = new Map<string, string | undefined>();
    for (const userId of users) defaultItem.set(userId, (await recommendation(userId)).items[0]?.itemId);
    expect(new Set(defaultItem.values()).size).toBeGreaterThan(0);

    const put = await app.inject({
      method: 'PUT',
      url: '/v1/experiments/home-ranking',
      payload: {
        placement: 'home',
        arms: [
          { name: 'personal', share: 0.5 },
          { name: 'popular', share: 0.5, algorithm: 'popular' },
        ],
      },
    });
    expect(put.statusCode, put.body).toBe(200);
    await app.experiments.refresh();

    const armOf = new Map<string, string | undefined>();
    for (const userId of users) {
      const reply = await recommendation(userId);
      armOf.set(userId, reply.arm);
      // The popular arm answers home otherwise than the default model: the experiment is live for them.
      if (reply.arm === 'popular') expect(reply.items[0]?.itemId).not.toBe(defaultItem.get(userId));
      expect(await pushedItem(userId), `${userId} in arm ${reply.arm}`).toBe(defaultItem.get(userId));
    }
    const arms = [...armOf.values()];
    expect(arms.filter((arm) => arm === 'personal').length).toBeGreaterThan(5);
    expect(arms.filter((arm) => arm === 'popular').length).toBeGreaterThan(5);
  });
});
