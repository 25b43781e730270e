import { deleteKeysWithPrefix, epochHourOf } from '@elevens/redis-stores';
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
  infra = await createTestInfra('ingest-rebuild-trending-ahead');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

it('rebuilds the trending count of an event timestamped ahead of the clock into the current hour, as ingest counted it', async () => {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/events',
    payload: {
      events: [
        { eventId: 'ahead', userId: 'fast-clock', itemId: 'kettle', type: 'cart', timestamp: NOW + 3 * HOUR },
        { eventId: 'before', userId: 'slow-clock', itemId: 'kettle', type: 'view', timestamp: NOW - HOUR },
      ],
    },
  });
  expect(response.json()).toMatchObject({ accepted: 2 });
  const hourKeys = [0, -1, 3].map((h) => infra.keys.trendingHour(epochHourOf(NOW) + h));
  const counted = async () => Promise.all(hourKeys.map((k) => infra.redis.zscore(k, 'kettle')));
  // Closing waits for the trending counters, which follow the answer.
  await app.close();
  const live = await counted();
  expect(live).toEqual(['3', '1', null]);

  await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
  await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: NOW - 24 * HOUR, nowMs: NOW });
  expect(await counted()).toEqual(live);
});
