import { randomUUID } from 'node:crypto';
import { createKeys, LiveState, ReplyCache, type ReplyEntry, TurnBatch } from '@elevens/redis-stores';
import { expect, it } from 'vitest';
import type { RedisBackend } from './backends';

/** A Redis backend the reply cache runs on, as a test file set it up (its own key prefix). */
export type ReplyCacheBackend = Pick<RedisBackend, 'keys' | 'redis' | 'slotOf' | 'mastersHolding'>;

const NOW = 1_800_000_000_000;
const STAMP_TTL_MS = 30_000;
const ENTRY_TTL_MS = 45_000;
const HISTORY_LENGTH = 10;
const MARK_TTL_MS = 30_000;
/** Ids whose keys land in many slots, odd ones included: a tag-breaking '}' first, braces inside. */
const USERS = ['}odd', 'a{b}c', '{x}', 'ünï\tcode', ...Array.from({ length: 40 }, (_, i) => `user-${i}`)];

const entryUnder = (stamp: string, json: string): ReplyEntry => ({
  stamp,
  modelVersion: 'model-7',
  boostRulesVersion: '3',
  catalogVersion: 'catalog-2',
  computedAtMs: NOW,
  validUntilMs: NOW + ENTRY_TTL_MS,
  experiment: 'ranking',
  arm: 'b',
  query: '{"limit":10,"userId":"u"}',
  json,
});

const NO_STATE = { history: [], purchased: [], personalization: true };

/**
 * The reply cache's contract, the same on every backend: an entry is served back only under the stamp it was
 * written with and only for its query, any write of the user's live state makes it stale (the read then brings
 * the user's state), stamps are claimed only by users without one, entries and claimed stamps expire, and the
 * reads and writes of many users in one event-loop turn go through one TurnBatch; on a cluster, the read's keys
 * share the user's slot and one turn's users spread over the masters.
 */
export function replyCacheConformance(backend: () => ReplyCacheBackend, options: { cluster: boolean }) {
  const stores = (keys = backend().keys) => {
    const { redis } = backend();
    const turnBatch = new TurnBatch(redis);
    return { cache: new ReplyCache(redis, keys, turnBatch), live: new LiveState(redis, keys, turnBatch) };
  };
  const claimed = async (cache: ReplyCache, userId: string) => {
    const stamp = await cache.claimStamp(userId, STAMP_TTL_MS);
    if (stamp === null) throw new Error(`${userId} already had a stamp`);
    return stamp;
  };

  it('serves an entry back under the stamp it was written with, and only for its query', async () => {
    const { cache } = stores();
    const userId = `hit-${randomUUID()}`;
    const stamp = await claimed(cache, userId);
    const entry = entryUnder(stamp, '{"items":["ä","b\\tc"]}');
    await cache.write(userId, 'q1', entry, ENTRY_TTL_MS);

    expect(await cache.read(userId, 'q1', HISTORY_LENGTH, 0)).toEqual({
      stamp,
      entry,
      state: null,
      admit: true,
    });
    expect(await cache.read(userId, 'q2', HISTORY_LENGTH, 0)).toEqual({
      stamp,
      entry: null,
      state: NO_STATE,
      admit: true,
    });
  });

  it("makes entries stale when an event or a profile write renews the stamp, and reads the user's state with the miss", async () => {
    const { cache, live } = stores();
    const userId = `stale-${randomUUID()}`;
    const first = await claimed(cache, userId);
    await cache.write(userId, 'q', entryUnder(first, '[1]'), ENTRY_TTL_MS);

    await live.recordEvents([
      { userId, itemId: 'viewed', type: 'view', timestampMs: NOW },
      { userId, itemId: 'bought', type: 'purchase', timestampMs: NOW + 1 },
    ]).usersWritten;
    const afterEvents = await cache.read(userId, 'q', HISTORY_LENGTH, 0);
    expect(afterEvents.stamp).not.toBeNull();
    expect(afterEvents.stamp).not.toBe(first);
    expect(afterEvents).toMatchObject({
      entry: null,
      state: {
        history: [
          { type: 'purchase', itemId: 'bought', timestampMs: NOW + 1 },
          { type: 'view', itemId: 'viewed', timestampMs: NOW },
        ],
        purchased: ['bought'],
        personalization: true,
      },
    });

    const second = afterEvents.stamp!;
    await cache.write(userId, 'q', entryUnder(second, '[2]'), ENTRY_TTL_MS);
    expect((await cache.read(userId, 'q', HISTORY_LENGTH, 0)).entry?.json).toBe('[2]');
    await live.writeProfile(userId, {
      personalization: false,
      push: true,
      timezone: 'Asia/Tokyo',
      revision: 1,
    });
    const afterProfile = await cache.read(userId, 'q', HISTORY_LENGTH, 0);
    expect(afterProfile.stamp).not.toBe(second);
    expect(afterProfile.entry).toBeNull();
    expect(afterProfile.state?.personalization).toBe(false);
  });

  it("claims a stamp only for a user without one; a writer's stamp replaces a claimed one for good", async () => {
    const { redis, keys } = backend();
    const { cache, live } = stores();
    const userId = `claim-${randomUUID()}`;
    const claimedStamp = await claimed(cache, userId);
    expect(await cache.claimStamp(userId, STAMP_TTL_MS)).toBeNull();
    const claimTtl = await redis.pttl(keys.userStamp(userId));
    expect(claimTtl).toBeGreaterThan(0);
    expect(claimTtl).toBeLessThanOrEqual(STAMP_TTL_MS);

    await live.recordEvents([{ userId, itemId: 'i', type: 'view', timestampMs: NOW }]).usersWritten;
    const written = await redis.get(keys.userStamp(userId));
    expect(written).not.toBe(claimedStamp);
    expect(await redis.pttl(keys.userStamp(userId))).toBe(-1);
    expect(await cache.claimStamp(userId, STAMP_TTL_MS)).toBeNull();
    await cache.write(userId, 'q', entryUnder(written!, '[]'), ENTRY_TTL_MS);

    // Erasure deletes the stamp, and no claim sets one while its mark holds; once the mark is gone the next claim
    // is a new token, and the entry written before is not served.
    await live.erase(userId);
    expect(await cache.claimStamp(userId, STAMP_TTL_MS)).toBeNull();
    expect(await redis.exists(keys.userStamp(userId))).toBe(0);
    await redis.del(keys.userHistory(userId));
    const afterErasure = await claimed(cache, userId);
    expect([claimedStamp, written]).not.toContain(afterErasure);
    expect(await cache.read(userId, 'q', HISTORY_LENGTH, 0)).toEqual({
      stamp: afterErasure,
      entry: null,
      state: NO_STATE,
      admit: true,
    });
  });

  it("admits an answer at its query's second miss under one stamp, and serves no mark as an entry", async () => {
    const { redis, keys } = backend();
    const { cache, live } = stores();
    const userId = `admit-${randomUUID()}`;
    expect(await cache.read(userId, 'q', HISTORY_LENGTH, MARK_TTL_MS)).toMatchObject({
      stamp: null,
      admit: false,
    });
    expect(await redis.exists(keys.userReply(userId, 'q'))).toBe(0);

    await live.recordEvents([{ userId, itemId: 'viewed', type: 'view', timestampMs: NOW }]).usersWritten;
    const first = await cache.read(userId, 'q', HISTORY_LENGTH, MARK_TTL_MS);
    expect(first).toMatchObject({ entry: null, admit: false });
    expect(first.state?.history).toEqual([{ type: 'view', itemId: 'viewed', timestampMs: NOW }]);
    const markTtl = await redis.pttl(keys.userReply(userId, 'q'));
    expect(markTtl).toBeGreaterThan(0);
    expect(markTtl).toBeLessThanOrEqual(MARK_TTL_MS);
    const second = await cache.read(userId, 'q', HISTORY_LENGTH, MARK_TTL_MS);
    expect(second).toEqual({ ...first, admit: true });
    // Another query of the same user has a mark of its own.
    expect(await cache.read(userId, 'q2', HISTORY_LENGTH, MARK_TTL_MS)).toMatchObject({ admit: false });

    await cache.write(userId, 'q', entryUnder(second.stamp!, '[1]'), ENTRY_TTL_MS);
    expect(await cache.read(userId, 'q', HISTORY_LENGTH, MARK_TTL_MS)).toMatchObject({
      entry: { json: '[1]' },
      state: null,
      admit: true,
    });

    // An event renews the stamp: the entry and any mark under the old one count for nothing.
    await live.recordEvents([{ userId, itemId: 'next', type: 'view', timestampMs: NOW + 1 }]).usersWritten;
    expect(await cache.read(userId, 'q', HISTORY_LENGTH, MARK_TTL_MS)).toMatchObject({
      entry: null,
      admit: false,
    });
    expect(await cache.read(userId, 'q', HISTORY_LENGTH, MARK_TTL_MS)).toMatchObject({
      entry: null,
      admit: true,
    });
    await cache.read(userId, 'q2', HISTORY_LENGTH, MARK_TTL_MS);
    await live.recordEvents([{ userId, itemId: 'third', type: 'view', timestampMs: NOW + 2 }]).usersWritten;
    expect(await cache.read(userId, 'q2', HISTORY_LENGTH, MARK_TTL_MS)).toMatchObject({ admit: false });

    // Admission off: every miss admits, and no mark is left.
    const other = `admit-off-${randomUUID()}`;
    await live.recordEvents([{ userId: other, itemId: 'viewed', type: 'view', timestampMs: NOW }])
      .usersWritten;
    expect(await cache.read(other, 'q', HISTORY_LENGTH, 0)).toMatchObject({ entry: null, admit: true });
    expect(await redis.exists(keys.userReply(other, 'q'))).toBe(0);
  });

  it('stores each entry with the TTL it was written with', async () => {
    const { redis, keys } = backend();
    const { cache } = stores();
    const userId = `ttl-${randomUUID()}`;
    const stamp = await claimed(cache, userId);
    await cache.write(userId, 'short', entryUnder(stamp, '[]'), 5_000);
    await cache.write(userId, 'long', entryUnder(stamp, '[]'), ENTRY_TTL_MS);
    const shortTtl = await redis.pttl(keys.userReply(userId, 'short'));
    const longTtl = await redis.pttl(keys.userReply(userId, 'long'));
    expect(shortTtl).toBeGreaterThan(0);
    expect(shortTtl).toBeLessThanOrEqual(5_000);
    expect(longTtl).toBeGreaterThan(5_000);
    expect(longTtl).toBeLessThanOrEqual(ENTRY_TTL_MS);
  });

  it("writes and reads many users' entries in one turn, each read after the write sent before it", async () => {
    const keys = createKeys(`${backend().keys.prefix}turn-${randomUUID()}:`);
    const { cache } = stores(keys);
    const stamps = await Promise.all(USERS.map((userId) => claimed(cache, userId)));
    // One turn: every write and read below is queued before the batch is flushed.
    const writes: Promise<void>[] = [];
    const reads = USERS.map((userId, i) => {
      writes.push(cache.write(userId, 'q', entryUnder(stamps[i]!, JSON.stringify([userId])), ENTRY_TTL_MS));
      return cache.read(userId, 'q', HISTORY_LENGTH, 0);
    });
    const [replies] = await Promise.all([Promise.all(reads), Promise.all(writes)]);
    replies.forEach((reply, i) => {
      expect(reply.stamp, USERS[i]).toBe(stamps[i]);
      expect(reply.entry?.json, USERS[i]).toBe(JSON.stringify([USERS[i]]));
      expect(reply.state).toBeNull();
    });
    // Only a cluster has several masters: a standalone run has no such check rather than a skipped one.
    if (options.cluster) expect(await backend().mastersHolding(keys.prefix)).toBeGreaterThan(1);
  });

  if (options.cluster)
    it("puts every key the read touches in the user's slot, whatever the id holds", async () => {
      const { keys, slotOf } = backend();
      for (const userId of USERS.slice(0, 4)) {
        const readKeys = [
          keys.userStamp(userId),
          keys.userReply(userId, 'q'),
          keys.userHistory(userId),
          keys.userPurchased(userId),
          keys.userProfile(userId),
        ];
        expect(new Set(await Promise.all(readKeys.map(slotOf))).size, userId).toBe(1);
      }
    });
}
