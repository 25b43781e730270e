import { deleteKeysWithPrefix, epochHourOf } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { rebuildLiveState } from '../src/rebuild-live-state';

const HOUR = 3_600_000;
/** 40 minutes into this hour: a rebuilt counter expires a fixed time after its hour, so the clock cannot lie days back. */
const NOW = Math.floor(Date.now() / HOUR) * HOUR + 40 * 60_000;

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-rebuild-trending-per-shopper');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

it('rebuilds trending counting each shopper once per item and hour, by their heaviest event, as ingest counts live', async () => {
  const burst = Array.from({ length: 50 }, (_, i) => ({
    eventId: `bot-${i}`,
    userId: 'bot',
    itemId: 'kettle',
    type: 'view',
    timestamp: NOW - 30 * 60_000 + i * 1000,
  }));
  const shopper = [
    {
      eventId: 'shopper-view',
      userId: 'shopper',
      itemId: 'kettle',
      type: 'view',
      timestamp: NOW - 20 * 60_000,
    },
    {
      eventId: 'shopper-buy',
      userId: 'shopper',
      itemId: 'kettle',
      type: 'purchase',
      timestamp: NOW - 10 * 60_000,
    },
    { eventId: 'earlier', userId: 'shopper', itemId: 'kettle', type: 'cart', timestamp: NOW - HOUR },
  ];
  for (const events of [burst.slice(0, 25), burst.slice(25), shopper]) {
    const response = await app.inject({ method: 'POST', url: '/v1/events', payload: { events } });
    expect(response.statusCode, response.body).toBe(200);
  }
  const hourKeys = [0, -1].map((h) => infra.keys.trendingHour(epochHourOf(NOW) + h));
  const counted = async () => Promise.all(hourKeys.map((k) => infra.redis.zscore(k, 'kettle')));
  // Closing waits for the trending counters, which follow the answer.
  await app.close();
  // This hour: the bot's 50 views once (1) and the shopper's purchase (5); the hour before: the shopper's cart.
  const live = await counted();
  expect(live).toEqual(['6', '3']);

  await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
  await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: NOW - 24 * HOUR, nowMs: NOW });
  expect(await counted()).toEqual(live);
});
