import { type ApiApp, buildApiApp } from '@elevens/api';
import type { ItemListReply } from '@elevens/domain';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { epochHourOf, publishModel } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fixtureModel, testApiConfig } from '../services/api/test/recommendations-fixtures';

/**
 * Live trending of events from clients whose clocks run ahead: ingest counts them in the hour it received them,
 * so an api on the same clock shows them in "trending now" at once, not hours later as a spike.
 */
const HOUR_MS = 3_600_000;
const NOW = Date.parse('2026-11-11T00:40:00Z');

let infra: TestInfra;
let ingest: IngestApp;
let api: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('live-trending-clock-ahead');
  await publishModel(infra.redis, infra.keys, fixtureModel('v-fixture'));
  ingest = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
  api = await buildApiApp({ config: testApiConfig(infra.env), now: () => NOW });
});

afterAll(async () => {
  await Promise.all([api?.close(), ingest?.close()]);
  await infra?.close();
});

it('shows purchases timestamped 3 h ahead in the trending of the hour ingest received them', async () => {
  const timestamp = NOW + 3 * HOUR_MS;
  const response = await ingest.inject({
    method: 'POST',
    url: '/v1/events',
    payload: {
      events: ['u1', 'u2'].map((userId) => ({ userId, itemId: 'g2', type: 'purchase', timestamp })),
    },
  });
  expect(response.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
  // The counters follow the answer on the same connection: closing ingest waits for them.
  await ingest.close();
  expect(await infra.redis.exists(infra.keys.trendingHour(epochHourOf(timestamp)))).toBe(0);
  await api.model.refresh();
  const trending = await api.inject({ method: 'GET', url: '/v1/trending?limit=1' });
  expect((trending.json() as ItemListReply).items.map((i) => [i.itemId, i.source])).toEqual([
    ['g2', 'trending'],
  ]);
});
