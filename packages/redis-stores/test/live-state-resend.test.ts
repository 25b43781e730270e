import {
  createRedisClient,
  epochHourOf,
  eraseUserLiveState,
  readUserHistory,
  recordLiveEvents,
  restartTrendingHours,
} from '@elevens/redis-stores';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';

let infra: TestInfra;
let proxy: TcpProxy;

beforeAll(async () => {
  infra = await createTestInfra('live-state-resend');
  proxy = await startTcpProxy(infra.redisUrl);
});

afterAll(async () => {
  await proxy?.close();
  await infra?.close();
});

it('applies events once when the connection is lost before their reply and the client sends them again', async () => {
  // As ingest's client: a command whose reply a lost connection took is sent again once reconnected.
  const redis = createRedisClient({ url: proxy.url(infra.redisUrl) });
  try {
    await redis.ping();
    proxy.hold(/evalsha/i);
    const written = recordLiveEvents(redis, infra.keys, [
      { userId: 'resent', itemId: 'a', type: 'view', timestampMs: 1 },
      { userId: 'resent', itemId: 'b', type: 'purchase', timestampMs: 2 },
      { userId: 'resent-too', itemId: 'c', type: 'view', timestampMs: 3 },
    ]);
    await proxy.whenHeld(/evalsha/i);
    // The script reaches Redis and runs; its reply finds the connection gone.
    proxy.release();
    proxy.cut();
    await written;
    expect((await readUserHistory(infra.redis, infra.keys, 'resent')).map((e) => e.itemId)).toEqual([
      'b',
      'a',
    ]);
    expect((await readUserHistory(infra.redis, infra.keys, 'resent-too')).map((e) => e.itemId)).toEqual([
      'c',
    ]);
  } finally {
    redis.disconnect();
  }
});

it("deletes a shopper's field that ingest writes to a restarted hour after the shopper's erasure swept it", async () => {
  const redis = createRedisClient({ url: proxy.url(infra.redisUrl) });
  const receivedMs = Date.parse('2026-11-11T00:40:00Z');
  const hour = epochHourOf(receivedMs);
  const shoppersKey = infra.keys.trendingHourShoppers(hour);
  try {
    await redis.ping();
    await restartTrendingHours(infra.redis, infra.keys, [hour], receivedMs);
    // The user script answers before the erasure; the hour's shoppers form (the hour refuses counts) comes after.
    proxy.hold(/\r\nshoppers\r\n/);
    const written = recordLiveEvents(
      redis,
      infra.keys,
      [{ userId: 'erased-in-between', itemId: 'late-field', type: 'cart', timestampMs: receivedMs }],
      receivedMs,
    );
    await proxy.whenHeld(/\r\nshoppers\r\n/);
    await eraseUserLiveState(infra.redis, infra.keys, 'erased-in-between', 2, receivedMs);
    proxy.release();
    await written;
    expect(await infra.redis.hkeys(shoppersKey)).toEqual(['']);
    expect(await infra.redis.zscore(infra.keys.trendingHour(hour), 'late-field')).toBe('3');
  } finally {
    redis.disconnect();
  }
});
