import {
  addTrendingCounts,
  clearTrendingHours,
  ERASURE_MARK,
  epochHourOf,
  eraseUserLiveState,
  forgetUserHistory,
  LIVE_HISTORY_LENGTH,
  type LiveEvent,
  readUserHistory,
  readUserState,
  recordLiveEvents,
  replaceUserLiveState,
  sendLiveEvents,
  serversOf,
  TurnBatch,
  writeUserProfile,
} from '@elevens/redis-stores';
import { expect, it } from 'vitest';
import type { RedisBackend } from './backends';

/** A Redis backend the live state runs on, as a test file set it up (its own key prefix). */
export type LiveStateBackend = Pick<RedisBackend, 'keys' | 'redis'>;

const NOW = 1_800_000_000_000;
const HOUR_MS = 3_600_000;
/** Ids whose keys land in many slots, odd ones included: a tag-breaking '}' first, braces inside. */
const USERS = ['}odd', 'a{b}c', '{x}', ...Array.from({ length: 40 }, (_, i) => `user-${i}`)];

/** `count` views of `userId`, of items `<prefix><from>`, `<prefix><from + 1>`, …, oldest first. */
const views = (userId: string, prefix: string, from: number, count: number): LiveEvent[] =>
  Array.from({ length: count }, (_, i) => ({
    userId,
    itemId: `${prefix}${from + i}`,
    type: 'view',
    timestampMs: NOW + from + i,
  }));

/**
 * The live state's contract, the same on every backend: writes over many users and hours at once (one pipeline per
 * node on a cluster), reads through a TurnBatch, consent, forgetting and erasure, and the trending hours.
 */
export function liveStateConformance(backend: () => LiveStateBackend) {
  const stateOf = (userId: string) => {
    const { redis, keys } = backend();
    return readUserState(new TurnBatch(redis), keys, userId, LIVE_HISTORY_LENGTH);
  };

  it('applies one batch of events of many users, newest first, with purchases and a new stamp each', async () => {
    const { redis, keys } = backend();
    const events: LiveEvent[] = USERS.flatMap((userId, i) => [
      { userId, itemId: `i${i}`, type: 'view', timestampMs: NOW },
      { userId, itemId: `j${i}`, type: 'purchase', timestampMs: NOW + 1 },
    ]);
    await recordLiveEvents(redis, keys, events);
    const batch = new TurnBatch(redis);
    const states = await Promise.all(
      USERS.map((userId) => readUserState(batch, keys, userId, LIVE_HISTORY_LENGTH)),
    );
    states.forEach((state, i) => {
      expect(state.history.map((e) => e.itemId)).toEqual([`j${i}`, `i${i}`]);
      expect(state.purchased).toEqual([`j${i}`]);
      expect(state.personalization).toBe(true);
    });
    const stamps = await Promise.all(USERS.map((userId) => redis.get(keys.userStamp(userId))));
    expect(stamps.every((stamp) => stamp !== null)).toBe(true);
  });

  it("settles the users' writes apart from the trending counters: a failing hour rejects only trendingCounted", async () => {
    const { redis, keys } = backend();
    const atMs = NOW + 100 * HOUR_MS;
    const hourKey = keys.trendingHour(epochHourOf(atMs));
    await redis.set(hourKey, 'not a sorted set');
    const users = USERS.slice(0, 6).map((userId) => `${userId}-apart`);
    const sent = sendLiveEvents(
      redis,
      keys,
      users.map((userId, i) => ({ userId, itemId: `apart-${i}`, type: 'cart', timestampMs: atMs })),
    );
    await expect(sent.trendingCounted).rejects.toThrow(/WRONGTYPE/);
    await expect(sent.usersWritten).resolves.toBeUndefined();
    const states = await Promise.all(users.map(stateOf));
    states.forEach((state, i) => {
      expect(state.history.map((e) => e.itemId)).toEqual([`apart-${i}`]);
    });
    await redis.del(hourKey);
  });

  it('caps each history across calls, newest first, with users of every size in one call', async () => {
    const { redis, keys } = backend();
    const entries = (userId: string, from: number, count: number) => views(userId, 'c', from, count);
    await recordLiveEvents(redis, keys, [...entries('cap-a', 0, 150), ...entries('cap-b', 0, 1)]);
    await recordLiveEvents(redis, keys, [...entries('cap-b', 1, 1), ...entries('cap-a', 150, 100)]);
    const a = await stateOf('cap-a');
    expect(a.history).toHaveLength(LIVE_HISTORY_LENGTH);
    expect(a.history[0]!.itemId).toBe('c249');
    expect(a.history.at(-1)!.itemId).toBe(`c${250 - LIVE_HISTORY_LENGTH}`);
    expect((await stateOf('cap-b')).history.map((e) => e.itemId)).toEqual(['c1', 'c0']);
  });

  it('keeps the cap event by event and when a batch replaces most of a full history', async () => {
    const { redis, keys } = backend();
    const newestIds = (userId: string) =>
      readUserHistory(redis, keys, userId).then((h) => h.map((e) => e.itemId));
    const expected = (last: number) => Array.from({ length: LIVE_HISTORY_LENGTH }, (_, i) => `f${last - i}`);
    await recordLiveEvents(redis, keys, views('full', 'f', 0, LIVE_HISTORY_LENGTH));
    for (let k = 0; k < 3; k++)
      await recordLiveEvents(redis, keys, views('full', 'f', LIVE_HISTORY_LENGTH + k, 1));
    expect(await newestIds('full')).toEqual(expected(LIVE_HISTORY_LENGTH + 2));
    await recordLiveEvents(
      redis,
      keys,
      views('full', 'f', LIVE_HISTORY_LENGTH + 3, LIVE_HISTORY_LENGTH - 10),
    );
    expect(await newestIds('full')).toEqual(expected(2 * LIVE_HISTORY_LENGTH - 8));
    // A read of fewer entries than held gets the newest.
    expect((await readUserState(new TurnBatch(redis), keys, 'full', 3)).history.map((e) => e.itemId)).toEqual(
      expected(2 * LIVE_HISTORY_LENGTH - 8).slice(0, 3),
    );
  });

  it("keeps a batch's newest events, newest first, whatever order they were sent in", async () => {
    const { redis, keys } = backend();
    const count = LIVE_HISTORY_LENGTH + 50;
    // A user's recent events sent newest first (one request), then one more, the newest of all.
    await recordLiveEvents(redis, keys, views('sent-newest-first', 'o', 0, count).reverse());
    await recordLiveEvents(redis, keys, views('sent-newest-first', 'o', count, 1));
    const expected = Array.from({ length: LIVE_HISTORY_LENGTH }, (_, i) => `o${count - i}`);
    expect((await readUserHistory(redis, keys, 'sent-newest-first')).map((e) => e.itemId)).toEqual(expected);
  });

  it('keeps ids with newlines, quotes, backslashes and brackets as they came', async () => {
    const { redis, keys } = backend();
    const itemIds = ['a\nb', 'line\nbreak', '"quoted"', 'back\\slash', '],[', '\u2028', 'é—x'];
    await recordLiveEvents(
      redis,
      keys,
      itemIds.map((itemId, i) => ({ userId: 'odd-ids', itemId, type: 'fav', timestampMs: NOW + i })),
    );
    const history = (await stateOf('odd-ids')).history;
    expect(history.map((e) => e.itemId)).toEqual([...itemIds].reverse());
    expect(await readUserHistory(redis, keys, 'odd-ids', 2)).toEqual(history.slice(0, 2));
  });

  it('reads a history kept as a list (the layout before the text) and rewrites it at the next event', async () => {
    const { redis, keys } = backend();
    const key = keys.userHistory('legacy');
    // As releases before wrote it: one JSON entry per element, newest first.
    await redis.rpush(key, ...[3, 2, 1].map((i) => JSON.stringify(['view', `old${i}`, NOW + i])));
    expect((await stateOf('legacy')).history.map((e) => e.itemId)).toEqual(['old3', 'old2', 'old1']);
    expect((await readUserHistory(redis, keys, 'legacy', 2)).map((e) => e.itemId)).toEqual(['old3', 'old2']);
    await recordLiveEvents(redis, keys, [
      { userId: 'legacy', itemId: 'new', type: 'cart', timestampMs: NOW + 4 },
    ]);
    expect(await redis.type(key)).toBe('string');
    expect((await stateOf('legacy')).history.map((e) => e.itemId)).toEqual(['new', 'old3', 'old2', 'old1']);
  });

  it('fails the writes and reads of a user whose history key holds something else, and only theirs', async () => {
    const { redis, keys } = backend();
    await redis.sadd(keys.userHistory('wrong-type'), 'x');
    await redis.set(keys.userHistory('no-text'), 'no count here');
    const written = recordLiveEvents(
      redis,
      keys,
      ['wrong-type', 'no-text', 'fine'].map((userId) => ({
        userId,
        itemId: 'w',
        type: 'view',
        timestampMs: NOW,
      })),
    );
    await expect(written).rejects.toThrow(/WRONGTYPE|live history text/);
    expect((await stateOf('fine')).history.map((e) => e.itemId)).toEqual(['w']);
    await expect(stateOf('wrong-type')).rejects.toThrow(/WRONGTYPE/);
    await expect(stateOf('no-text')).rejects.toThrow(/live history text/);
    for (const userId of ['wrong-type', 'no-text']) await redis.del(keys.userHistory(userId));
  });

  // Flushing the scripts is safe on a Redis other test files share: every script path of ours resends by text.
  it('applies events once Redis has lost the script (NOSCRIPT: sent again by its text)', async () => {
    const { redis, keys } = backend();
    await Promise.all(serversOf(redis).map((server) => server.script('FLUSH')));
    await recordLiveEvents(
      redis,
      keys,
      USERS.map((userId) => ({ userId, itemId: 'flushed', type: 'purchase', timestampMs: NOW })),
    );
    for (const userId of USERS) expect((await stateOf(userId)).purchased).toContain('flushed');
  });

  it("replaces many users' state at once and renews their stamps", async () => {
    const { redis, keys } = backend();
    const before = await Promise.all(USERS.map((userId) => redis.get(keys.userStamp(userId))));
    await replaceUserLiveState(
      redis,
      keys,
      USERS.map((userId) => ({
        userId,
        history: [{ type: 'cart', itemId: 'k', timestampMs: NOW }],
        purchased: ['p'],
      })),
    );
    for (const userId of USERS) {
      const state = await stateOf(userId);
      expect(state.history).toEqual([{ type: 'cart', itemId: 'k', timestampMs: NOW }]);
      expect(state.purchased).toEqual(['p']);
    }
    const after = await Promise.all(USERS.map((userId) => redis.get(keys.userStamp(userId))));
    for (const [i, stamp] of after.entries()) expect(stamp).not.toBe(before[i]);
  });

  it('reads a withdrawn consent, forgets the history but not the profile, and erases every key', async () => {
    const { redis, keys } = backend();
    const userId = '}consent';
    await recordLiveEvents(redis, keys, [{ userId, itemId: 'x', type: 'view', timestampMs: NOW }]);
    await writeUserProfile(redis, keys, userId, {
      personalization: false,
      push: true,
      timezone: null,
      revision: 1,
    });
    expect((await stateOf(userId)).personalization).toBe(false);
    expect(await forgetUserHistory(redis, keys, userId)).toBe(true);
    expect((await stateOf(userId)).history).toEqual([]);
    expect(await redis.exists(keys.userProfile(userId))).toBe(1);
    expect(await eraseUserLiveState(redis, keys, userId)).toBe(2);
    expect(await redis.exists(keys.userProfile(userId), keys.userStamp(userId))).toBe(0);
  });

  it("keeps an erasure's mark when a consent withdrawal's forgetting reaches Redis after the erasure", async () => {
    const { redis, keys } = backend();
    const userId = '}withdrawn-then-erased';
    await recordLiveEvents(redis, keys, [{ userId, itemId: 'x', type: 'view', timestampMs: NOW }]);
    await eraseUserLiveState(redis, keys, userId, 7);
    expect(await forgetUserHistory(redis, keys, userId)).toBe(false);
    expect(await redis.get(keys.userHistory(userId))).toBe(`${ERASURE_MARK}:7`);
    expect(await redis.exists(keys.userStamp(userId))).toBe(0);
    await recordLiveEvents(redis, keys, [{ userId, itemId: 'y', type: 'view', timestampMs: NOW + 1 }]);
    expect((await stateOf(userId)).history).toEqual([]);
  });

  it('keeps the later revision of a profile whichever write arrives last', async () => {
    const { redis, keys } = backend();
    const userId = '}revised';
    const withdrawn = { personalization: false, push: false, timezone: 'Asia/Tokyo' };
    const given = { personalization: true, push: true, timezone: null };
    const write = (profile: typeof withdrawn | typeof given, revision: number) =>
      writeUserProfile(redis, keys, userId, { ...profile, revision });
    // Consent given (revision 1), then withdrawn (2): the withdrawal reaches Redis first.
    expect(await write(withdrawn, 2)).toBe(true);
    const stamp = await redis.get(keys.userStamp(userId));
    expect(await write(given, 1)).toBe(false);
    expect((await stateOf(userId)).personalization).toBe(false);
    expect(await redis.hgetall(keys.userProfile(userId))).toEqual({
      personalization: '0',
      push: '0',
      timezone: 'Asia/Tokyo',
      revision: '2',
    });
    expect(await redis.get(keys.userStamp(userId))).toBe(stamp);
    // The same revision again (a rebuild from Postgres) and a later one are written.
    expect(await write(withdrawn, 2)).toBe(true);
    expect(await write(given, 3)).toBe(true);
    expect((await stateOf(userId)).personalization).toBe(true);
    expect(await redis.hget(keys.userProfile(userId), 'timezone')).toBe('');
  });

  it("drops a profile write older than an erasure while the erasure's mark stands, and keeps a later one", async () => {
    const { redis, keys } = backend();
    const userId = '}erased-profile';
    const profile = { personalization: true, push: false, timezone: 'Europe/Paris' };
    await writeUserProfile(redis, keys, userId, { ...profile, revision: 5 });
    expect(await eraseUserLiveState(redis, keys, userId, 7)).toBe(2);
    // Written before the erasure committed (revision 6), it reaches Redis after it: nothing of the user comes back.
    expect(await writeUserProfile(redis, keys, userId, { ...profile, revision: 6 })).toBe(false);
    expect(await redis.exists(keys.userProfile(userId), keys.userStamp(userId))).toBe(0);
    // The user came back after the erasure (revision 8): their profile stands, the mark stays for their events.
    expect(await writeUserProfile(redis, keys, userId, { ...profile, revision: 8 })).toBe(true);
    expect(await redis.hmget(keys.userProfile(userId), 'push', 'revision')).toEqual(['0', '8']);
    expect(await redis.exists(keys.userStamp(userId))).toBe(1);
    expect((await stateOf(userId)).history).toEqual([]);
    expect(await redis.pttl(keys.userHistory(userId))).toBeGreaterThan(0);
  });

  it('counts trending per hour across hours at once, and clears the hours', async () => {
    const { redis, keys } = backend();
    const hours = Array.from({ length: 12 }, (_, i) => epochHourOf(NOW) - i);
    await addTrendingCounts(
      redis,
      keys,
      hours.map((epochHour) => ({ epochHour, itemId: 'hot', weight: 2 })),
    );
    await recordLiveEvents(
      redis,
      keys,
      hours.map((epochHour) => ({
        userId: 'trend',
        itemId: 'hot',
        type: 'cart',
        timestampMs: epochHour * HOUR_MS,
      })),
    );
    for (const hour of hours) expect(await redis.zscore(keys.trendingHour(hour), 'hot')).toBe('5');
    await clearTrendingHours(redis, keys, hours);
    for (const hour of hours) expect(await redis.exists(keys.trendingHour(hour))).toBe(0);
  });

  it('writes nothing of a state read before the user was erased: the mark stays, and the user is reported', async () => {
    const { redis, keys } = backend();
    const [erased, kept] = ['}replace-erased', '}replace-kept'];
    await recordLiveEvents(redis, keys, [
      { userId: erased, itemId: 'gone', type: 'purchase', timestampMs: NOW },
      { userId: kept, itemId: 'stays', type: 'view', timestampMs: NOW },
    ]);
    // A rebuild read both users' state, then the first was erased before it wrote.
    const read = [erased, kept].map((userId) => ({
      userId,
      history: [{ type: 'purchase', itemId: 'gone', timestampMs: NOW }],
      purchased: ['gone'],
    }));
    await eraseUserLiveState(redis, keys, erased, 9);
    const result = await replaceUserLiveState(redis, keys, read);
    expect(result).toEqual({ replaced: 1, erased: [erased], withdrawn: [] });
    expect(await redis.get(keys.userHistory(erased))).toBe('~erased:9');
    expect(await redis.pttl(keys.userHistory(erased))).toBeGreaterThan(0);
    expect(await redis.exists(keys.userPurchased(erased), keys.userStamp(erased))).toBe(0);
    expect((await stateOf(kept)).purchased).toEqual(['gone']);
  });

  it('deletes, instead of writing, the state read of a user who has withdrawn consent since', async () => {
    const { redis, keys } = backend();
    const userId = '}replace-withdrawn';
    await recordLiveEvents(redis, keys, [{ userId, itemId: 'seen', type: 'purchase', timestampMs: NOW }]);
    const stamp = await redis.get(keys.userStamp(userId));
    await writeUserProfile(redis, keys, userId, {
      personalization: false,
      push: true,
      timezone: null,
      revision: 4,
    });
    const result = await replaceUserLiveState(redis, keys, [
      { userId, history: [{ type: 'purchase', itemId: 'seen', timestampMs: NOW }], purchased: ['seen'] },
    ]);
    expect(result).toEqual({ replaced: 0, erased: [], withdrawn: [userId] });
    expect(await redis.exists(keys.userHistory(userId), keys.userPurchased(userId))).toBe(0);
    expect(await redis.get(keys.userStamp(userId))).not.toBe(stamp);
  });

  it('keeps, when asked, the stored events newer than the newest read one, and their purchases', async () => {
    const { redis, keys } = backend();
    const userId = '}replace-live';
    const read = { userId, history: views(userId, 'r', 0, 3).reverse(), purchased: ['old-buy'] };
    // Ingest applied these after the read: newer than anything read, one of them a purchase.
    await recordLiveEvents(redis, keys, [
      ...views(userId, 'r', 0, 3),
      { userId, itemId: 'live-view', type: 'view', timestampMs: NOW + 10 },
      { userId, itemId: 'live-buy', type: 'purchase', timestampMs: NOW + 11 },
    ]);
    expect(await replaceUserLiveState(redis, keys, [read], { keepNewerStored: true })).toEqual({
      replaced: 1,
      erased: [],
      withdrawn: [],
    });
    const state = await stateOf(userId);
    expect(state.history.map((e) => e.itemId)).toEqual(['live-buy', 'live-view', 'r2', 'r1', 'r0']);
    expect(state.purchased.sort()).toEqual(['live-buy', 'old-buy']);
    // Without it the read state replaces the stored one exactly.
    await replaceUserLiveState(redis, keys, [read]);
    expect((await stateOf(userId)).history.map((e) => e.itemId)).toEqual(['r2', 'r1', 'r0']);
    expect((await stateOf(userId)).purchased).toEqual(['old-buy']);
  });

  it('replaces a history kept as a list or a key of another type, keeping newer list entries when asked', async () => {
    const { redis, keys } = backend();
    const [legacy, wrong] = ['}replace-legacy', '}replace-wrong'];
    await redis.rpush(
      keys.userHistory(legacy),
      ...[9, 1].map((i) => JSON.stringify(['view', `old${i}`, NOW + i])),
    );
    await redis.sadd(keys.userHistory(wrong), 'x');
    await redis.set(keys.userPurchased(wrong), 'not a set');
    const read = (userId: string) => ({
      userId,
      history: [{ type: 'cart', itemId: 'read', timestampMs: NOW + 5 }],
      purchased: ['p'],
    });
    await replaceUserLiveState(redis, keys, [read(legacy), read(wrong)], { keepNewerStored: true });
    expect((await stateOf(legacy)).history.map((e) => e.itemId)).toEqual(['old9', 'read']);
    expect(await stateOf(wrong)).toMatchObject({ history: [{ itemId: 'read' }], purchased: ['p'] });
  });
}
