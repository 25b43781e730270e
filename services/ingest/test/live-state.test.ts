import { deleteKeysWithPrefix, LIVE_HISTORY_LENGTH, readUserHistory } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { rebuildLiveState } from '../src/rebuild-live-state';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-live-state');
  // The Redis failure below is logged as a warning; the test asserts on it instead.
  app = await buildIngestApp({ config: loadIngestConfig({ ...infra.env, LOG_LEVEL: 'error' }) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const HOUR = 3_600_000;
const now = Date.now();
const postEvents = (events: unknown[]) =>
  app.inject({ method: 'POST', url: '/v1/events', payload: { events } });

describe('live state', () => {
  it('acknowledges and stores events when the Redis write fails', async () => {
    // A key of the wrong type makes the history write fail inside Redis for this user only.
    await infra.redis.sadd(infra.keys.userHistory('broken'), 'not a history');
    const response = await postEvents([
      { eventId: 'r1', userId: 'broken', itemId: 'i1', type: 'view' },
      { eventId: 'r2', userId: 'healthy', itemId: 'i2', type: 'purchase' },
    ]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    const { rows } = await infra.pool.query("SELECT event_id FROM events WHERE event_id IN ('r1', 'r2')");
    expect(rows).toHaveLength(2);
    expect(await infra.redis.sismember(infra.keys.userPurchased('healthy'), 'i2')).toBe(1);
  });

  it("answers once the users' state is written, whatever becomes of the trending counters", async () => {
    const timestampMs = now - 5 * HOUR;
    const hourKey = infra.keys.trendingHour(Math.floor(timestampMs / HOUR));
    // A key of the wrong type makes the hour's trending script fail; the user's state is written before it.
    await infra.redis.set(hourKey, 'not a sorted set');
    const response = await postEvents([
      { eventId: 't1', userId: 'trend-failed', itemId: 'i1', type: 'cart', timestamp: timestampMs },
    ]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const history = await readUserHistory(infra.redis, infra.keys, 'trend-failed');
    expect(history.map((entry) => entry.itemId)).toEqual(['i1']);
    expect(await infra.redis.get(infra.keys.userStamp('trend-failed'))).not.toBeNull();
    await infra.redis.del(hourKey);
  });

  it('keeps the newest events of a large batch, every purchase, and a new stamp after them', async () => {
    const count = LIVE_HISTORY_LENGTH + 50;
    await postEvents([
      {
        eventId: 'big-0',
        userId: 'big',
        itemId: 'first',
        type: 'view',
        timestamp: now - (count + 1) * 1_000,
      },
    ]);
    const stampBefore = await infra.redis.get(infra.keys.userStamp('big'));
    const events = Array.from({ length: count }, (_, i) => ({
      eventId: `big-${i + 1}`,
      userId: 'big',
      itemId: `item-${i}`,
      type: i % 100 === 0 ? 'purchase' : 'view',
      timestamp: now - (count - i) * 1_000,
    }));
    expect((await postEvents(events)).json()).toMatchObject({ accepted: count });
    const history = await readUserHistory(infra.redis, infra.keys, 'big');
    expect(history).toHaveLength(LIVE_HISTORY_LENGTH);
    expect(history[0]!.itemId).toBe(`item-${count - 1}`);
    expect(history.at(-1)!.itemId).toBe(`item-${count - LIVE_HISTORY_LENGTH}`);
    expect((await infra.redis.smembers(infra.keys.userPurchased('big'))).sort()).toEqual([
      'item-0',
      'item-100',
      'item-200',
    ]);
    const stampAfter = await infra.redis.get(infra.keys.userStamp('big'));
    expect(stampBefore).not.toBeNull();
    expect(stampAfter).not.toBeNull();
    expect(stampAfter).not.toBe(stampBefore);
  });

  it('rebuilds histories, purchased sets and trending counters from Postgres', async () => {
    const events = [
      { eventId: 'l1', userId: 'lena', itemId: 'a', type: 'view', timestamp: now - 3 * HOUR },
      { eventId: 'l2', userId: 'lena', itemId: 'b', type: 'cart', timestamp: now - 2 * HOUR },
      { eventId: 'l3', userId: 'lena', itemId: 'b', type: 'purchase', timestamp: now - HOUR },
      { eventId: 'm1', userId: 'max', itemId: 'a', type: 'fav', timestamp: now - HOUR },
      { eventId: 'o1', userId: 'old', itemId: 'z', type: 'purchase', timestamp: now - 40 * 24 * HOUR },
    ];
    await postEvents(events);
    const history = await readUserHistory(infra.redis, infra.keys, 'lena');
    const trendingKeys = [3, 2, 1].map((h) => infra.keys.trendingHour(Math.floor((now - h * HOUR) / HOUR)));
    const trending = await Promise.all(trendingKeys.map((k) => infra.redis.zrange(k, 0, -1, 'WITHSCORES')));

    await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
    const report = await rebuildLiveState(infra.pool, infra.redis, infra.keys, {
      sinceMs: now - 7 * 24 * HOUR,
      nowMs: now,
    });

    // lena's history is newest first, as ingest wrote it.
    const rebuilt = await readUserHistory(infra.redis, infra.keys, 'lena');
    expect(rebuilt).toEqual(history);
    expect(rebuilt.map((entry) => entry.itemId)).toEqual(['b', 'b', 'a']);
    expect(await infra.redis.smembers(infra.keys.userPurchased('lena'))).toEqual(['b']);
    expect(await Promise.all(trendingKeys.map((k) => infra.redis.zrange(k, 0, -1, 'WITHSCORES')))).toEqual(
      trending,
    );
    expect(await infra.redis.exists(infra.keys.userHistory('old'))).toBe(0);
    expect(report).toMatchObject({ purchases: expect.any(Number), trendingHours: expect.any(Number) });
    expect(report.users).toBeGreaterThanOrEqual(2);
  });

  it("rebuilds each user's history and purchases whole when the users fill several batches", async () => {
    const users = ['batch-a', 'batch-b', 'batch-c'];
    await postEvents(
      users.flatMap((userId) => [
        { eventId: `${userId}-1`, userId, itemId: 'v', type: 'view', timestamp: now - 3 * HOUR },
        { eventId: `${userId}-2`, userId, itemId: 'p', type: 'purchase', timestamp: now - 2 * HOUR },
      ]),
    );
    const live = await Promise.all(users.map((userId) => readUserHistory(infra.redis, infra.keys, userId)));
    await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
    // One user per batch: each batch ends with a user whose rows are still being read.
    await rebuildLiveState(infra.pool, infra.redis, infra.keys, {
      sinceMs: now - 4 * HOUR,
      nowMs: now,
      batchSize: 1,
    });
    for (const [i, userId] of users.entries()) {
      expect(live[i]!.map((entry) => entry.itemId)).toEqual(['p', 'v']);
      expect(await readUserHistory(infra.redis, infra.keys, userId)).toEqual(live[i]);
      expect(await infra.redis.smembers(infra.keys.userPurchased(userId))).toEqual(['p']);
    }
  });

  it('rebuilds ids holding control characters COPY escapes (backspace, form feed, vertical tab) as stored', async () => {
    const itemId = 'bell\b\f\v\\end';
    await postEvents([{ eventId: 'ctl1', userId: 'ctl', itemId, type: 'purchase', timestamp: now - HOUR }]);
    await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
    await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: now - 2 * HOUR, nowMs: now });
    expect((await readUserHistory(infra.redis, infra.keys, 'ctl')).map((entry) => entry.itemId)).toEqual([
      itemId,
    ]);
    expect(await infra.redis.smembers(infra.keys.userPurchased('ctl'))).toEqual([itemId]);
  });

  it('rebuilds the profiles: consent and time zone the push and recommendation paths read', async () => {
    const putUser = (userId: string, payload: Record<string, unknown>) =>
      app.inject({ method: 'PUT', url: `/v1/users/${userId}`, payload });
    await putUser('quiet', { timezone: 'Asia/Tokyo', consent: { personalization: true, push: false } });
    await putUser('withdrawn', { consent: { personalization: false, push: true } });
    await postEvents([{ eventId: 'q1', userId: 'quiet', itemId: 'a', type: 'view' }]);

    // Redis lost its data; a history of the withdrawn user survived (the withdrawal's Redis part failed).
    await deleteKeysWithPrefix(infra.redis, infra.keyPrefix);
    await infra.redis.set(infra.keys.userHistory('withdrawn'), '000001\n["view","a",1]\n');
    // A profile written after the rebuild read its page carries a later revision, and stays.
    await putUser('later', { consent: { personalization: true, push: true } });
    await infra.redis.hset(infra.keys.userProfile('later'), {
      personalization: '0',
      revision: Number.MAX_SAFE_INTEGER,
    });
    const report = await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: now - HOUR });

    const { rows } = await infra.pool.query<{ user_id: string; revision: number }>(
      "SELECT user_id, revision FROM users WHERE user_id IN ('quiet', 'withdrawn')",
    );
    const revision = Object.fromEntries(rows.map((row) => [row.user_id, String(row.revision)]));
    expect(await infra.redis.hgetall(infra.keys.userProfile('quiet'))).toEqual({
      personalization: '1',
      push: '0',
      timezone: 'Asia/Tokyo',
      revision: revision.quiet,
    });
    expect(await infra.redis.hgetall(infra.keys.userProfile('withdrawn'))).toEqual({
      personalization: '0',
      push: '1',
      timezone: '',
      revision: revision.withdrawn,
    });
    expect(await infra.redis.hget(infra.keys.userProfile('later'), 'personalization')).toBe('0');
    expect(await infra.redis.exists(infra.keys.userHistory('withdrawn'))).toBe(0);
    expect(await readUserHistory(infra.redis, infra.keys, 'quiet')).toHaveLength(1);
    expect(report.profiles).toBeGreaterThanOrEqual(2);
  });

  it('rebuilds no live state for users without personalization consent', async () => {
    await app.inject({
      method: 'PUT',
      url: '/v1/users/private',
      payload: { consent: { personalization: false, push: false } },
    });
    await postEvents([{ eventId: 'p1', userId: 'private', itemId: 'q', type: 'view' }]);
    await rebuildLiveState(infra.pool, infra.redis, infra.keys, { sinceMs: now - HOUR });
    const { rows } = await infra.pool.query("SELECT user_id FROM events WHERE event_id = 'p1'");
    expect(await infra.redis.exists(infra.keys.userHistory('private'))).toBe(0);
    expect(await infra.redis.exists(infra.keys.userHistory(rows[0].user_id))).toBe(0);
  });
});
