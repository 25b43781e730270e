import { deleteKeysWithPrefix, epochHourOf } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildIngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { rebuildLiveState } from '../src/rebuild-live-state';

const HOUR = 3_600_000;
/** 40 minutes into this hour: a rebuilt counter expires a fixed time after its hour, so the clock cannot lie days back. */
const NOW = Math.floor(Date.now() / HOUR) * HOUR + 40 * 60_000;
const THIS_HOUR = epochHourOf(NOW);
/** More items than a history holds: what a shopper counted covers all of them. */
const BROWSED_ITEMS = 250;
const USERS = ['shopper', 'browser', 'fast-clock', 'withdrawn'];

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('ingest-rebuild-trending-counted');
});

afterAll(async () => {
  await infra.close();
});

type Event = { eventId: string; userId: string; itemId: string; type: string; timestamp: number };
const event = (eventId: string, userId: string, itemId: string, type: string, timestamp: number): Event => ({
  eventId,
  userId,
  itemId,
  type,
  timestamp,
});

/** Sends `events` through an ingest process whose clock reads NOW, closed once its trending counters are sent. */
async function ingest(events: Event[]) {
  const app = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
  try {
    const withdrawal = await app.inject({
      method: 'PUT',
      url: '/v1/users/withdrawn',
      payload: { consent: { personalization: false, push: false } },
    });
    expect(withdrawal.statusCode, withdrawal.body).toBe(200);
    const response = await app.inject({ method: 'POST', url: '/v1/events', payload: { events } });
    expect(response.statusCode, response.body).toBe(200);
  } finally {
    // Closing waits for the trending counters, which follow the answer.
    await app.close();
  }
}

/** The hours the api reads: their counters, and what each shopper counted of them. */
async function trendingState() {
  const counters = await Promise.all(
    [THIS_HOUR - 1, THIS_HOUR].map((hour) =>
      infra.redis.zrange(infra.keys.trendingHour(hour), 0, -1, 'WITHSCORES'),
    ),
  );
  const counted: Record<string, Record<string, string>[]> = {};
  for (const userId of USERS) {
    counted[userId] = await Promise.all(
      [0, 1].map((parity) => infra.redis.hgetall(infra.keys.userTrendingCounted(userId, parity))),
    );
    for (const parity of [0, 1]) {
      const ttl = await infra.redis.ttl(infra.keys.userTrendingCounted(userId, parity));
      if (Object.keys(counted[userId]![parity]!).length > 0) {
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(2 * 3600);
      }
    }
  }
  return { counters, counted };
}

it('rebuilds what each shopper counted of the hours the api reads as ingest counted it, so their next events add nothing counted already', async () => {
  const lastHourStart = (THIS_HOUR - 1) * HOUR;
  await ingest([
    event('view', 'shopper', 'kettle', 'view', NOW - 20 * 60_000),
    event('buy', 'shopper', 'kettle', 'purchase', NOW - 10 * 60_000),
    event('cart-before', 'shopper', 'toaster', 'cart', lastHourStart + 60_000),
    ...Array.from({ length: BROWSED_ITEMS }, (_, i) =>
      event(`browse-${i}`, 'browser', `item-${i}`, 'view', lastHourStart + 60_000 + i * 1000),
    ),
    // Its clock runs ahead: both count in this hour, once, by the heavier.
    event('fast-view', 'fast-clock', 'kettle', 'view', NOW - 60_000),
    event('fast-cart', 'fast-clock', 'kettle', 'cart', NOW + 3 * HOUR),
    // Stored without the user: each counts.
    event('anonymous-1', 'withdrawn', 'kettle', 'view', NOW - 60_000),
    event('anonymous-2', 'withdrawn', 'kettle', 'view', NOW - 30_000),
  ]);
  const live = await trendingState();
  expect(Number(live.counters[1]![live.counters[1]!.indexOf('kettle') + 1])).toBe(5 + 3 + 2);
  expect(Object.keys(live.counted.browser![(THIS_HOUR - 1) % 2]!)).toHaveLength(BROWSED_ITEMS + 1);

  // `--since 24h`, and `--since 1h`, which counts the hour before whole though it reads histories from its middle.
  for (const sinceMs of [NOW - 24 * HOUR, NOW - HOUR]) {
    await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
    await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs, nowMs: NOW });
    expect(await trendingState()).toEqual(live);

    await ingest([
      event(`again-view-${sinceMs}`, 'shopper', 'kettle', 'view', NOW - 5 * 60_000),
      event(`again-cart-${sinceMs}`, 'shopper', 'toaster', 'view', lastHourStart + 120_000),
      event(`again-browse-${sinceMs}`, 'browser', 'item-7', 'view', lastHourStart + 120_000),
      event(`again-fast-${sinceMs}`, 'fast-clock', 'kettle', 'cart', NOW + 2 * HOUR),
    ]);
    expect((await trendingState()).counters).toEqual(live.counters);
  }
});
