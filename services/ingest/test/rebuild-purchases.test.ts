import { deleteKeysWithPrefix, readUserHistory } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { rebuildLiveState } from '../src/rebuild-live-state';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The clock the app receives events by and the rebuild reads. */
const NOW = Date.UTC(2026, 10, 11, 12);

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-rebuild-purchases');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const postEvents = (events: unknown[]) =>
  app.inject({ method: 'POST', url: '/v1/events', payload: { events } }).then((r) => r.json());

describe('rebuild-live-state', () => {
  it('keeps every purchase of a rebuilt user in their purchased set, also those before the rebuilt span', async () => {
    expect(
      await postEvents([
        { eventId: 'tv', userId: 'keeper', itemId: 'tv', type: 'purchase', timestamp: NOW - 40 * DAY },
        { eventId: 'cable', userId: 'keeper', itemId: 'cable', type: 'view', timestamp: NOW - HOUR },
      ]),
    ).toMatchObject({ accepted: 2 });
    const live = await infra.redis.smembers(infra.keys.userPurchased('keeper'));
    expect(live).toEqual(['tv']);

    // Redis lost its data; the operator rebuilds the last 30 days.
    await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
    await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: NOW - 30 * DAY, nowMs: NOW });

    expect(await infra.redis.smembers(infra.keys.userPurchased('keeper'))).toEqual(live);
    // The history is the rebuilt span's only.
    expect((await readUserHistory(infra.redis, infra.keys, 'keeper')).map((e) => e.itemId)).toEqual([
      'cable',
    ]);
  });
});
