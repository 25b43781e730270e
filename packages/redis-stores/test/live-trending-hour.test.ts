import { epochHourOf, type LiveEvent, recordLiveEvents } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('live-trending-hour');
});

afterAll(async () => {
  await infra?.close();
});

const HOUR_MS = 3_600_000;
/** Ingest's clock as it applies the events: 40 minutes into an hour. */
const RECEIVED_MS = Date.parse('2026-11-11T00:40:00Z');

const purchase = (itemId: string, timestampMs: number): LiveEvent => ({
  userId: `buyer-${itemId}`,
  itemId,
  type: 'purchase',
  timestampMs,
});
const countIn = (epochHour: number, itemId: string) =>
  infra.redis.zscore(infra.keys.trendingHour(epochHour), itemId);

it('counts an event timestamped ahead of the receive time in the hour it was received, not hours ahead', async () => {
  await recordLiveEvents(
    infra.redis,
    infra.keys,
    [purchase('ahead', RECEIVED_MS + 3 * HOUR_MS)],
    RECEIVED_MS,
  );
  expect(await countIn(epochHourOf(RECEIVED_MS), 'ahead')).toBe('5');
  expect(await infra.redis.exists(infra.keys.trendingHour(epochHourOf(RECEIVED_MS) + 3))).toBe(0);
});

it('counts events of the past, and of later in the receive hour, in their own hour', async () => {
  await recordLiveEvents(
    infra.redis,
    infra.keys,
    [purchase('late', RECEIVED_MS - 5 * HOUR_MS), purchase('on-time', RECEIVED_MS + 10 * 60_000)],
    RECEIVED_MS,
  );
  expect(await countIn(epochHourOf(RECEIVED_MS) - 5, 'late')).toBe('5');
  expect(await countIn(epochHourOf(RECEIVED_MS), 'on-time')).toBe('5');
});
