import { randomUUID } from 'node:crypto';
import { LiveState, ReplyCache, type ReplyEntry, serversOf, TurnBatch } from '@elevens/redis-stores';
import { expect, it, vi } from 'vitest';
import { describeOnEveryBackend, type RedisBackend } from './backends';
import { replyCacheConformance } from './reply-cache.conformance';

const NOW = 1_800_000_000_000;
const HISTORY_LENGTH = 10;
const MARK_TTL_MS = 30_000;
const ENTRY_TTL_MS = 45_000;

const entryUnder = (stamp: string, json: string): ReplyEntry => ({
  stamp,
  modelVersion: 'model-7',
  boostRulesVersion: '3',
  catalogVersion: 'catalog-2',
  computedAtMs: NOW,
  validUntilMs: NOW + ENTRY_TTL_MS,
  experiment: null,
  arm: null,
  query: '{"limit":10}',
  json,
});

/**
 * A user's cached entries and first-miss marks name them and hold answers built from their history: their erasure
 * deletes them (through the index of their entries, no scan), and a write that reaches Redis after it stores
 * nothing. The index keeps no entry long expired.
 */
function replyCacheErasure(backend: () => RedisBackend) {
  const stores = () => {
    const { redis, keys } = backend();
    const turnBatch = new TurnBatch(redis);
    return { cache: new ReplyCache(redis, keys, turnBatch), live: new LiveState(redis, keys, turnBatch) };
  };

  /** Every key of a user whose id holds no glob character, on whichever master holds their slot. */
  const keysOfUser = async (userId: string) => {
    const { redis, keys } = backend();
    const pattern = `${keys
      .userStamp(userId)
      .slice(0, -'stamp'.length)
      .replace(/[*?[\]\\]/g, '\\$&')}*`;
    const found: string[] = [];
    for (const server of serversOf(redis)) {
      let cursor = '0';
      do {
        const [next, page] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        found.push(...page);
        cursor = next;
      } while (cursor !== '0');
    }
    return found.sort();
  };

  it("deletes a user's cached entries and first-miss marks at their erasure, and no other user's", async () => {
    const { redis, keys } = backend();
    const { cache, live } = stores();
    const userId = `erased-${randomUUID()}`;
    const other = `kept-${randomUUID()}`;
    await live.recordEvents([
      { userId, itemId: 'viewed', type: 'view', timestampMs: NOW },
      { userId: other, itemId: 'viewed', type: 'view', timestampMs: NOW },
    ]).usersWritten;
    // q1 keeps a first miss's mark; q2, missed twice, an entry.
    await cache.read(userId, 'q1', HISTORY_LENGTH, MARK_TTL_MS);
    await cache.read(userId, 'q2', HISTORY_LENGTH, MARK_TTL_MS);
    const { stamp } = await cache.read(userId, 'q2', HISTORY_LENGTH, MARK_TTL_MS);
    await cache.write(userId, 'q2', entryUnder(stamp!, '[1]'), ENTRY_TTL_MS);
    const otherStamp = (await cache.read(other, 'q2', HISTORY_LENGTH, 0)).stamp!;
    await cache.write(other, 'q2', entryUnder(otherStamp, '[2]'), ENTRY_TTL_MS);
    expect(await redis.exists(keys.userReply(userId, 'q1'), keys.userReply(userId, 'q2'))).toBe(2);
    const existed = await keysOfUser(userId);

    expect(await live.erase(userId, 3)).toBe(existed.length);
    // Only the erasure's mark is left.
    expect(await keysOfUser(userId)).toEqual([keys.userHistory(userId)]);
    expect(await redis.get(keys.userHistory(userId))).toBe('~erased:3');
    expect((await cache.read(other, 'q2', HISTORY_LENGTH, 0)).entry?.json).toBe('[2]');
  });

  it('stores nothing of a reply write that reaches Redis after the erasure', async () => {
    const { keys } = backend();
    const { cache, live } = stores();
    const userId = `late-${randomUUID()}`;
    await live.recordEvents([{ userId, itemId: 'viewed', type: 'view', timestampMs: NOW }]).usersWritten;
    const { stamp } = await cache.read(userId, 'q', HISTORY_LENGTH, 0);
    await live.erase(userId, 4);
    await cache.write(userId, 'q', entryUnder(stamp!, '[1]'), ENTRY_TTL_MS);
    expect(await keysOfUser(userId)).toEqual([keys.userHistory(userId)]);

    // No reader claims a stamp while the mark holds, and no entry is stored under one claimed before it.
    expect(await cache.claimStamp(userId, ENTRY_TTL_MS)).toBeNull();
    await cache.write(userId, 'q', entryUnder(stamp!, '[2]'), ENTRY_TTL_MS);
    expect(await keysOfUser(userId)).toEqual([keys.userHistory(userId)]);
  });

  it("deletes a user's cached entries and first-miss marks when their history is forgotten, and stores none computed before", async () => {
    const { redis, keys } = backend();
    const { cache, live } = stores();
    const userId = `withdrawn-${randomUUID()}`;
    await live.recordEvents([{ userId, itemId: 'viewed', type: 'view', timestampMs: NOW }]).usersWritten;
    await cache.read(userId, 'q1', HISTORY_LENGTH, MARK_TTL_MS);
    await cache.read(userId, 'q2', HISTORY_LENGTH, MARK_TTL_MS);
    const { stamp } = await cache.read(userId, 'q2', HISTORY_LENGTH, MARK_TTL_MS);
    await cache.write(userId, 'q2', entryUnder(stamp!, '[1]'), ENTRY_TTL_MS);
    await live.writeProfile(userId, { personalization: false, push: true, timezone: null, revision: 1 });

    expect(await live.forgetHistory(userId)).toBe(true);
    const replyKeys = [
      keys.userReply(userId, 'q1'),
      keys.userReply(userId, 'q2'),
      keys.userReplyIndex(userId),
    ];
    expect(await redis.exists(...replyKeys)).toBe(0);
    // An answer computed from the forgotten history, reaching Redis after the forgetting.
    await cache.write(userId, 'q3', entryUnder(stamp!, '[2]'), ENTRY_TTL_MS);
    expect(await redis.exists(keys.userReply(userId, 'q3'))).toBe(0);
    // Answers computed without the history are cached again.
    const after = await cache.read(userId, 'q3', HISTORY_LENGTH, 0);
    expect(after.state).toMatchObject({ history: [], personalization: false });
    await cache.write(userId, 'q3', entryUnder(after.stamp!, '[3]'), ENTRY_TTL_MS);
    expect((await cache.read(userId, 'q3', HISTORY_LENGTH, 0)).entry?.json).toBe('[3]');
  });

  it('keeps in the index of their entries none long expired, and lets it expire', async () => {
    const { redis, keys } = backend();
    const { cache } = stores();
    const userId = `index-${randomUUID()}`;
    const index = keys.userReplyIndex(userId);
    const stamp = (await cache.claimStamp(userId, ENTRY_TTL_MS))!;
    await cache.write(userId, 'gone', entryUnder(stamp, '[]'), 1);
    const goneBy = Number(await redis.zscore(index, 'gone'));
    // Past the time its key expired by, on Redis's clock.
    await vi.waitFor(async () => {
      const [seconds, micros] = await redis.time();
      expect(Number(seconds) * 1000 + Number(micros) / 1000).toBeGreaterThan(goneBy + 1);
    });
    expect(await redis.exists(keys.userReply(userId, 'gone'))).toBe(0);
    await cache.write(userId, 'kept', entryUnder(stamp, '[]'), ENTRY_TTL_MS);
    expect(await redis.zrange(index, 0, -1)).toEqual(['kept']);
    const indexTtl = await redis.pttl(index);
    expect(indexTtl).toBeGreaterThan(ENTRY_TTL_MS);
    expect(indexTtl).toBeLessThanOrEqual(2 * ENTRY_TTL_MS);
  });
}

describeOnEveryBackend('reply cache', 'cache-reply-cache', (backend, options) => {
  replyCacheConformance(backend, options);
  replyCacheErasure(backend);
});
