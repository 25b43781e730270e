import { readUserHistory } from '@elevens/redis-stores';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-erasure-race');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const postEvents = (ingest: IngestApp, events: unknown[]) =>
  ingest.inject({ method: 'POST', url: '/v1/events', payload: { events } });
const erase = (userId: string) => app.inject({ method: 'DELETE', url: `/v1/users/${userId}` });

/**
 * Runs `fn` with a second ingest process whose Redis commands go through a proxy that can hold them back; it
 * answers only once its live-state write is applied, so awaiting its answer awaits the write.
 */
async function withHeldIngest(fn: (proxy: TcpProxy, slow: IngestApp) => Promise<void>): Promise<void> {
  const proxy = await startTcpProxy(infra.redisUrl);
  const slow = await buildIngestApp({
    config: loadIngestConfig({
      ...infra.env,
      REDIS_URL: proxy.url(infra.redisUrl),
      INGEST_LIVE_STATE_TIMEOUT_MS: '30000',
    }),
  });
  try {
    await fn(proxy, slow);
  } finally {
    await slow.close();
    await proxy.close();
  }
}

describe('DELETE /v1/users/:userId against writes still on their way to Redis', () => {
  it('keeps no live state of an erased user whose committed event reaches Redis after the erasure', async () => {
    await postEvents(app, [{ eventId: 'erin-0', userId: 'erin', itemId: 'seen', type: 'view' }]);
    await withHeldIngest(async (proxy, slow) => {
      proxy.hold();
      const posting = postEvents(slow, [
        { eventId: 'erin-1', userId: 'erin', itemId: 'bought', type: 'purchase' },
      ]);
      // The event is committed; its live-state write waits in the proxy while the erasure runs.
      await proxy.whenHeld(/\beval(sha)?\r\n/i);
      const erased = await erase('erin');
      expect(erased.statusCode).toBe(200);
      expect(erased.json()).toMatchObject({ erased: { events: 2, profile: false } });
      proxy.release();
      expect((await posting).json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    });
    expect(await readUserHistory(infra.redis, infra.keys, 'erin')).toEqual([]);
    expect(await infra.redis.exists(infra.keys.userPurchased('erin'), infra.keys.userStamp('erin'))).toBe(0);
    // Erasing again finds nothing left to erase, in Postgres or in Redis.
    expect((await erase('erin')).json()).toEqual({
      userId: 'erin',
      erased: { events: 0, profile: false, redisKeys: 0 },
    });
  });

  it("stores a returning user's events, and gives them a live history again once the erasure's mark is gone", async () => {
    await postEvents(app, [{ eventId: 'gil-0', userId: 'gil', itemId: 'before', type: 'purchase' }]);
    expect((await erase('gil')).statusCode).toBe(200);
    const history = infra.keys.userHistory('gil');
    expect(await infra.redis.pttl(history)).toBeGreaterThan(0);

    // Within the hour their events are stored, their profile written, and their live history left alone.
    expect(
      (await postEvents(app, [{ eventId: 'gil-1', userId: 'gil', itemId: 'soon', type: 'view' }])).json(),
    ).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    await app.inject({ method: 'PUT', url: '/v1/users/gil', payload: { timezone: 'Europe/Rome' } });
    expect(await infra.redis.hget(infra.keys.userProfile('gil'), 'timezone')).toBe('Europe/Rome');
    expect(await readUserHistory(infra.redis, infra.keys, 'gil')).toEqual([]);
    const { rows } = await infra.pool.query("SELECT item_id FROM events WHERE user_id = 'gil'");
    expect(rows).toEqual([{ item_id: 'soon' }]);

    // The mark expires (here at once): the next events are the user's live history again, kept without end.
    await infra.redis.del(history);
    await postEvents(app, [{ eventId: 'gil-2', userId: 'gil', itemId: 'later', type: 'purchase' }]);
    expect((await readUserHistory(infra.redis, infra.keys, 'gil')).map((e) => e.itemId)).toEqual(['later']);
    expect(await infra.redis.smembers(infra.keys.userPurchased('gil'))).toEqual(['later']);
    expect(await infra.redis.pttl(history)).toBe(-1);
  });
});
