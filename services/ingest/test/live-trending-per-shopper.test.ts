import { epochHourOf } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { rebuildLiveState } from '../src/rebuild-live-state';

const HOUR = 3_600_000;
/**
 * The clock the app receives events by and the rebuild reads: 40 minutes into this hour (a rebuilt counter
 * expires a fixed time after its hour, so the clock cannot lie days back).
 */
const NOW = Math.floor(Date.now() / HOUR) * HOUR + 40 * 60_000;

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-live-trending-shopper');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

let eventsSent = 0;
/** One request of `count` events of a user and item, a millisecond apart from `atMs` on. */
async function post(userId: string, itemId: string, type: string, count = 1, atMs = NOW - 10 * 60_000) {
  const events = Array.from({ length: count }, (_, i) => ({
    eventId: `e${++eventsSent}`,
    userId,
    itemId,
    type,
    timestamp: atMs + i,
  }));
  const response = await app.inject({ method: 'POST', url: '/v1/events', payload: { events } });
  expect(response.json()).toMatchObject({ accepted: count });
}
// The answer waits for the users' state; the trending counters are sent before it settles, on the same client.
const countIn = async (hour: number, itemId: string) =>
  Number(await infra.redis.zscore(infra.keys.trendingHour(hour), itemId));

it("adds one view for a shopper's burst of views over many requests, and a purchase's weight in all", async () => {
  for (let request = 0; request < 4; request++) await post('scalper', 'console', 'view', 250);
  expect(await countIn(epochHourOf(NOW), 'console')).toBe(1);
  await post('scalper', 'console', 'purchase');
  await post('scalper', 'console', 'purchase');
  expect(await countIn(epochHourOf(NOW), 'console')).toBe(5);
  await post('shopper', 'console', 'view', 2);
  expect(await countIn(epochHourOf(NOW), 'console')).toBe(6);
});

it('counts every event of a shopper without personalization consent (stored without a user)', async () => {
  await app.inject({
    method: 'PUT',
    url: '/v1/users/private',
    payload: { consent: { personalization: false, push: false } },
  });
  await post('private', 'anonymous-item', 'view', 3);
  expect(await countIn(epochHourOf(NOW), 'anonymous-item')).toBe(3);
});

it('counts a rebuilt shopper once: the rebuild counts again from Postgres, their next events add nothing', async () => {
  await post('rebuilt', 'lamp', 'cart');
  await post('rebuilt', 'lamp', 'view', 1, NOW - HOUR);
  expect([await countIn(epochHourOf(NOW), 'lamp'), await countIn(epochHourOf(NOW) - 1, 'lamp')]).toEqual([
    3, 1,
  ]);
  await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: NOW - 24 * HOUR, nowMs: NOW });
  await post('rebuilt', 'lamp', 'view');
  await post('rebuilt', 'lamp', 'view', 1, NOW - HOUR + 1);
  expect([await countIn(epochHourOf(NOW), 'lamp'), await countIn(epochHourOf(NOW) - 1, 'lamp')]).toEqual([
    3, 1,
  ]);
});
