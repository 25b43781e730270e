import {
  createRedisClient,
  LuaScript,
  type RedisClient,
  readUserHistory,
  waitUntilReady,
} from '@elevens/redis-stores';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { type RebuildLiveStateReport, rebuildLiveState } from '../src/rebuild-live-state';

const HOUR = 3_600_000;
/** The clock the app receives events by and the rebuild reads. */
const NOW = Date.UTC(2026, 10, 11, 12);

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-rebuild-erasure-race');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const postEvents = (events: unknown[]) =>
  app.inject({ method: 'POST', url: '/v1/events', payload: { events } }).then((r) => r.json());

/**
 * Runs a rebuild whose Redis commands go through a proxy that holds them from the first (its writes of the users it
 * read): `meanwhile` runs after the rebuild read Postgres and before its writes reach Redis.
 */
async function rebuildAround(
  meanwhile: () => Promise<void>,
  { sinceMs = NOW - 2 * HOUR, holdFrom }: { sinceMs?: number; holdFrom?: RegExp } = {},
): Promise<RebuildLiveStateReport> {
  const proxy: TcpProxy = await startTcpProxy(infra.redisUrl);
  const redis: RedisClient = createRedisClient({ url: proxy.url(infra.redisUrl) });
  try {
    expect(await waitUntilReady(redis, 5_000)).toBe(true);
    proxy.hold(holdFrom);
    const rebuilding = rebuildLiveState(infra.pool, redis, infra.keys, { sinceMs, nowMs: NOW });
    await proxy.whenHeld(/\*\d+\r\n/);
    await meanwhile();
    proxy.release();
    return await rebuilding;
  } finally {
    redis.disconnect();
    await proxy.close();
  }
}

describe('rebuild-live-state beside erasures and live events', () => {
  it('writes nothing back of a user erased after it read their events, and reports them as skipped', async () => {
    await postEvents([
      { eventId: 'ena-1', userId: 'ena', itemId: 'seen', type: 'view', timestamp: NOW - HOUR },
      { eventId: 'ena-2', userId: 'ena', itemId: 'bought', type: 'purchase', timestamp: NOW - HOUR + 1 },
      { eventId: 'ben-1', userId: 'ben', itemId: 'kept', type: 'view', timestamp: NOW - HOUR },
    ]);
    const report = await rebuildAround(async () => {
      const erased = await app.inject({ method: 'DELETE', url: '/v1/users/ena' });
      expect(erased.json()).toMatchObject({ erased: { events: 2 } });
    });

    expect(await infra.redis.get(infra.keys.userHistory('ena'))).toMatch(/^~erased:\d+$/);
    expect(await readUserHistory(infra.redis, infra.keys, 'ena')).toEqual([]);
    expect(
      await infra.redis.exists(
        infra.keys.userPurchased('ena'),
        infra.keys.userStamp('ena'),
        infra.keys.userProfile('ena'),
      ),
    ).toBe(0);
    expect((await readUserHistory(infra.redis, infra.keys, 'ben')).map((e) => e.itemId)).toEqual(['kept']);
    expect(report).toMatchObject({ users: 1, erasedSkipped: 1, withdrawnSkipped: 0 });
  });

  it('keeps the events and purchases ingest applied after it read, on top of the rebuilt history', async () => {
    await postEvents([
      { eventId: 'liv-1', userId: 'liv', itemId: 'early', type: 'view', timestamp: NOW - HOUR },
    ]);
    const report = await rebuildAround(async () => {
      expect(
        await postEvents([
          { eventId: 'liv-2', userId: 'liv', itemId: 'later', type: 'view', timestamp: NOW - 60_000 },
          { eventId: 'liv-3', userId: 'liv', itemId: 'bought', type: 'purchase', timestamp: NOW - 30_000 },
        ]),
      ).toMatchObject({ accepted: 2 });
    });

    expect((await readUserHistory(infra.redis, infra.keys, 'liv')).map((e) => e.itemId)).toEqual([
      'bought',
      'later',
      'early',
    ]);
    expect(await infra.redis.smembers(infra.keys.userPurchased('liv'))).toEqual(['bought']);
    expect(report.users).toBeGreaterThanOrEqual(1);
  });

  it('keeps an event ingest applied after it read, of the same millisecond as the newest event it read, once', async () => {
    const at = NOW - 60_000;
    await postEvents([
      { eventId: 'sam-1', userId: 'sam', itemId: 'first', type: 'view', timestamp: at },
      { eventId: 'sam-2', userId: 'sam', itemId: 'twin', type: 'view', timestamp: at },
    ]);
    await rebuildAround(async () => {
      // A storefront's clock in whole seconds: the next views carry the same time as the newest read ones.
      expect(
        await postEvents([
          { eventId: 'sam-3', userId: 'sam', itemId: 'later', type: 'view', timestamp: at },
          { eventId: 'sam-4', userId: 'sam', itemId: 'twin', type: 'view', timestamp: at },
        ]),
      ).toMatchObject({ accepted: 2 });
    });

    const items = (await readUserHistory(infra.redis, infra.keys, 'sam')).map((e) => e.itemId);
    expect(items.sort()).toEqual(['first', 'later', 'twin', 'twin']);
  });

  it('writes no history of a user who withdrew consent after it read their events', async () => {
    await postEvents([
      { eventId: 'wil-1', userId: 'wil', itemId: 'private', type: 'view', timestamp: NOW - HOUR },
    ]);
    const report = await rebuildAround(async () => {
      const put = await app.inject({
        method: 'PUT',
        url: '/v1/users/wil',
        payload: { consent: { personalization: false, push: true } },
      });
      expect(put.statusCode).toBe(200);
    });

    expect(await infra.redis.exists(infra.keys.userHistory('wil'), infra.keys.userPurchased('wil'))).toBe(0);
    expect(await infra.redis.hget(infra.keys.userProfile('wil'), 'personalization')).toBe('0');
    expect(report.withdrawnSkipped).toBe(1);
  });

  it('keeps the mark of a user erased between the rewrite of their withdrawn profile and the deletion of their history', async () => {
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/users/fay',
      payload: { consent: { personalization: false, push: false } },
    });
    expect(put.statusCode).toBe(200);
    // No events in the span: the rebuild only rewrites profiles, then deletes the histories of those without
    // consent (a plain UNLINK before, the replace script now); the erasure runs while that is held.
    const replaceSha = new LuaScript('replace-user-live-state').sha;
    await rebuildAround(
      async () => {
        expect((await app.inject({ method: 'DELETE', url: '/v1/users/fay' })).statusCode).toBe(200);
      },
      { sinceMs: NOW + HOUR, holdFrom: new RegExp(`\\r\\nunlink\\r\\n|${replaceSha}`, 'i') },
    );

    expect(await infra.redis.get(infra.keys.userHistory('fay'))).toMatch(/^~erased:\d+$/);
    expect(await infra.redis.exists(infra.keys.userStamp('fay'), infra.keys.userProfile('fay'))).toBe(0);
  });
});
