import {
  addTrendingShoppers,
  epochHourOf,
  eraseUserLiveState,
  forgetUserHistory,
  type LiveEvent,
  recordLiveEvents,
  replaceUserLiveState,
  restartTrendingHours,
  writeUserProfile,
} from '@elevens/redis-stores';
import { afterEach, expect, it } from 'vitest';
import { describeOnEveryBackend, type RedisBackend } from './backends';

const HOUR_MS = 3_600_000;
/** Ingest's clock as it applies the events: 40 minutes into an hour. */
const RECEIVED_MS = Date.parse('2026-11-11T00:40:00Z');
const HOUR = epochHourOf(RECEIVED_MS);

const event = (userId: string, itemId: string, type: string, timestampMs = RECEIVED_MS): LiveEvent => ({
  userId,
  itemId,
  type,
  timestampMs,
});
/** `count` views of `itemId` by `userId`, a millisecond apart, the last at `endMs`. */
const views = (userId: string, itemId: string, count: number, endMs = RECEIVED_MS): LiveEvent[] =>
  Array.from({ length: count }, (_, i) => event(userId, itemId, 'view', endMs - count + 1 + i));

describeOnEveryBackend('live trending counted once per shopper', 'live-trending-shopper', (backend) => {
  // Each test uses its own item ids, users and hours' counters (and a rebuild's shoppers hashes) are cleared after it.
  const opened: RedisBackend['redis'][] = [];
  afterEach(async () => {
    for (const client of opened.splice(0)) client.disconnect();
    const { redis, keys } = backend();
    for (const hour of [HOUR - 3, HOUR - 2, HOUR - 1, HOUR])
      await redis.del(keys.trendingHour(hour), keys.trendingHourShoppers(hour));
  });

  const record = (events: LiveEvent[], receivedAtMs = RECEIVED_MS, redis = backend().redis) =>
    recordLiveEvents(redis, backend().keys, events, receivedAtMs);
  const countIn = async (hour: number, itemId: string) =>
    Number(await backend().redis.zscore(backend().keys.trendingHour(hour), itemId));

  it("adds one view's weight for one shopper's 1,000 views of an item in one write", async () => {
    await record(views('bot', 'scalped', 1_000));
    expect(await countIn(HOUR, 'scalped')).toBe(1);
  });

  it('adds the heaviest type: a view then a purchase add 5 in all, a purchase then a view 5', async () => {
    await record([event('buyer', 'bought-after', 'view')]);
    expect(await countIn(HOUR, 'bought-after')).toBe(1);
    await record([event('buyer', 'bought-after', 'purchase', RECEIVED_MS + 1)]);
    expect(await countIn(HOUR, 'bought-after')).toBe(5);
    await record([
      event('buyer', 'bought-first', 'purchase'),
      event('buyer', 'bought-first', 'view', RECEIVED_MS + 1),
      event('buyer', 'bought-first', 'cart', RECEIVED_MS + 2),
    ]);
    await record([event('buyer', 'bought-first', 'view', RECEIVED_MS + 3)]);
    expect(await countIn(HOUR, 'bought-first')).toBe(5);
  });

  it('counts two shoppers twice, and items apart, in one write whatever order their events come in', async () => {
    await record([
      event('ann', 'shared', 'view'),
      event('bob', 'shared', 'view'),
      event('ann', 'other', 'cart', RECEIVED_MS + 1),
      event('ann', 'shared', 'view', RECEIVED_MS + 2),
      event('bob', 'shared', 'view', RECEIVED_MS + 3),
      event('ann', 'other', 'view', RECEIVED_MS + 4),
    ]);
    expect(await countIn(HOUR, 'shared')).toBe(2);
    expect(await countIn(HOUR, 'other')).toBe(3);
  });

  it('bounds a shopper across writes and across clients (two ingest processes)', async () => {
    const other = backend().connect();
    opened.push(other);
    await record(views('repeat', 'spread', 500, RECEIVED_MS - 500));
    await record(views('repeat', 'spread', 500), RECEIVED_MS, other);
    await Promise.all([
      record([event('repeat', 'spread', 'view', RECEIVED_MS + 1)]),
      record([event('repeat', 'spread', 'view', RECEIVED_MS + 2)], RECEIVED_MS, other),
    ]);
    expect(await countIn(HOUR, 'spread')).toBe(1);
  });

  it('counts an event of a past hour in its own hour, bounded there too', async () => {
    const earlierMs = RECEIVED_MS - HOUR_MS;
    await record([event('late', 'both-hours', 'view', earlierMs), event('late', 'both-hours', 'view')]);
    await record([event('late', 'both-hours', 'cart', earlierMs + 1)]);
    await record([event('late', 'both-hours', 'view', earlierMs + 2), ...views('late', 'both-hours', 3)]);
    expect(await countIn(HOUR - 1, 'both-hours')).toBe(3);
    expect(await countIn(HOUR, 'both-hours')).toBe(1);
  });

  it('counts a shopper again in a new hour: each hour holds its own counts', async () => {
    await record(
      [event('hourly', 'daily-deal', 'view', RECEIVED_MS - 2 * HOUR_MS)],
      RECEIVED_MS - 2 * HOUR_MS,
    );
    await record([event('hourly', 'daily-deal', 'view')]);
    await record([event('hourly', 'daily-deal', 'view', RECEIVED_MS + 1)]);
    expect(await countIn(HOUR - 2, 'daily-deal')).toBe(1);
    expect(await countIn(HOUR, 'daily-deal')).toBe(1);
  });

  it('adds every event of an hour before the previous one: no answer reads it, and no counted hash is kept for it', async () => {
    const backfilledMs = RECEIVED_MS - 3 * HOUR_MS;
    const view = event('backfilled', 'old-news', 'view', backfilledMs);
    await record([view, view]);
    await record([view]);
    expect(await countIn(HOUR - 3, 'old-news')).toBe(3);
    const { redis, keys } = backend();
    expect(
      await redis.exists(
        keys.userTrendingCounted('backfilled', HOUR - 3),
        keys.userTrendingCounted('backfilled', HOUR - 2),
      ),
    ).toBe(0);
  });

  it('adds every anonymous event: without a user there is no shopper to bound', async () => {
    const anonymous = { ...event('~anon', 'unbounded', 'view'), anonymous: true };
    await record([anonymous, anonymous]);
    await record([anonymous]);
    expect(await countIn(HOUR, 'unbounded')).toBe(3);
  });

  it("deletes what a shopper counted with their erasure and their forgetting, and counts an erased shopper's late events nothing", async () => {
    const { redis, keys } = backend();
    const counted = (userId: string) =>
      redis.exists(keys.userTrendingCounted(userId, HOUR), keys.userTrendingCounted(userId, HOUR - 1));
    await record([event('}erased', 'private', 'view'), event('}forgotten', 'private', 'view')]);
    expect(await counted('}erased')).toBe(1);
    // history, stamp and the hour's counted hash: the erasure's count names each key it deleted
    expect(await eraseUserLiveState(redis, keys, '}erased', 3)).toBe(3);
    expect(await counted('}erased')).toBe(0);
    await record([event('}erased', 'private', 'purchase', RECEIVED_MS + 1)]);
    expect(await counted('}erased')).toBe(0);
    expect(await forgetUserHistory(redis, keys, '}forgotten')).toBe(true);
    expect(await counted('}forgotten')).toBe(0);
    expect(await countIn(HOUR, 'private')).toBe(2);
  });

  it("keeps a rebuilt shopper's counts: their next event of an item they counted adds nothing", async () => {
    const { redis, keys } = backend();
    await record([event('rebuilt', 'kept', 'cart')]);
    await replaceUserLiveState(
      redis,
      keys,
      [
        {
          userId: 'rebuilt',
          history: [{ type: 'cart', itemId: 'kept', timestampMs: RECEIVED_MS }],
          purchased: [],
        },
      ],
      { keepNewerStored: true },
    );
    await record([event('rebuilt', 'kept', 'view', RECEIVED_MS + 1)]);
    expect(await countIn(HOUR, 'kept')).toBe(3);
  });

  it("deletes an erased shopper's fields from the shoppers hashes of hours a rebuild restarted, and no count", async () => {
    const { redis, keys } = backend();
    const hours = [HOUR - 1, HOUR];
    await restartTrendingHours(redis, keys, hours, RECEIVED_MS);
    const shoppers = () => Promise.all(hours.map((hour) => redis.hgetall(keys.trendingHourShoppers(hour))));
    const counts = () =>
      Promise.all(hours.map((hour) => redis.zrange(keys.trendingHour(hour), 0, -1, 'WITHSCORES')));
    const earlierMs = RECEIVED_MS - HOUR_MS;
    await record([
      event('restarted-kept', 'restarted', 'view'),
      event('restarted-kept', 'restarted', 'cart', earlierMs),
    ]);
    const othersOnly = await shoppers();
    await record([
      event('}restarted-erased', 'restarted', 'cart'),
      event('}restarted-erased', 'only-erased', 'view', earlierMs),
    ]);
    expect((await shoppers()).map((fields) => Object.keys(fields).length)).toEqual([3, 3]);
    const counted = await counts();
    expect(counted).toEqual([
      ['only-erased', '1', 'restarted', '3'],
      ['restarted', '4'],
    ]);
    await eraseUserLiveState(redis, keys, '}restarted-erased', 5, RECEIVED_MS);
    expect(await shoppers()).toEqual(othersOnly);
    expect(await counts()).toEqual(counted);
  });

  it("deletes a withdrawn shopper's fields at their forgetting, and again those a late ingest write or rebuild adds", async () => {
    const { redis, keys } = backend();
    const hours = [HOUR - 1, HOUR];
    await restartTrendingHours(redis, keys, hours, RECEIVED_MS);
    const shoppers = () => Promise.all(hours.map((hour) => redis.hgetall(keys.trendingHourShoppers(hour))));
    const earlierMs = RECEIVED_MS - HOUR_MS;
    await record([
      event('withdrawn-kept', 'consented', 'view'),
      event('withdrawn-kept', 'consented', 'cart', earlierMs),
    ]);
    const othersOnly = await shoppers();
    await record([
      event('}withdrawn', 'consented', 'cart'),
      event('}withdrawn', 'withdrawn-only', 'view', earlierMs),
    ]);
    await writeUserProfile(redis, keys, '}withdrawn', {
      personalization: false,
      push: true,
      timezone: null,
      revision: 1,
    });
    expect(await forgetUserHistory(redis, keys, '}withdrawn', RECEIVED_MS)).toBe(true);
    expect(await shoppers()).toEqual(othersOnly);
    // Events committed before the withdrawal whose live-state write reaches Redis after it; a rebuild that read them.
    await record([event('}withdrawn', 'late', 'view', RECEIVED_MS + 1)]);
    await addTrendingShoppers(redis, keys, [
      { epochHour: HOUR, shopper: '}withdrawn', itemId: 'read', weight: 1 },
    ]);
    expect(await shoppers()).toEqual(othersOnly);
    expect(await countIn(HOUR, 'late')).toBe(1);
  });

  it("sweeps many forgotten shoppers' fields in one pass and leaves the others'", async () => {
    const { redis, keys } = backend();
    await restartTrendingHours(redis, keys, [HOUR], RECEIVED_MS);
    const shoppersKey = keys.trendingHourShoppers(HOUR);
    await record([event('swept-kept', 'swept', 'view')]);
    const othersOnly = await redis.hgetall(shoppersKey);
    const forgotten = Array.from({ length: 3 }, (_, i) => `}swept-${i}`);
    await record(forgotten.map((userId) => event(userId, 'swept', 'view')));
    expect(await redis.hlen(shoppersKey)).toBe(5);
    const stateless = forgotten.map((userId) => ({ userId, history: [], purchased: [] }));
    await replaceUserLiveState(redis, keys, stateless, { nowMs: RECEIVED_MS });
    expect(await redis.hgetall(shoppersKey)).toEqual(othersOnly);
  });

  it('deletes again the fields a rebuild adds of a shopper erased after it read their events', async () => {
    const { redis, keys } = backend();
    const shoppersKey = keys.trendingHourShoppers(HOUR);
    await restartTrendingHours(redis, keys, [HOUR], RECEIVED_MS);
    await eraseUserLiveState(redis, keys, '}read-erased', 6, RECEIVED_MS);
    const read = (shopper: string, weight: number) => ({
      epochHour: HOUR,
      shopper,
      itemId: 'read-before',
      weight,
    });
    await addTrendingShoppers(redis, keys, [read('}read-erased', 3), read('read-kept', 1)]);
    expect(await countIn(HOUR, 'read-before')).toBe(4);
    // The hour's field and the kept shopper's, which bounds them still: nothing of the erased shopper.
    expect(await redis.hlen(shoppersKey)).toBe(2);
    await addTrendingShoppers(redis, keys, [read('read-kept', 1)]);
    expect(await countIn(HOUR, 'read-before')).toBe(4);
  });
});
