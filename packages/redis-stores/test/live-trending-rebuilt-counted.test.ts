import {
  epochHourOf,
  eraseUserLiveState,
  type LiveEvent,
  recordLiveEvents,
  replaceTrendingCounted,
  writeUserProfile,
} from '@elevens/redis-stores';
import { expect, it } from 'vitest';
import { describeOnEveryBackend } from './backends';

/** Ingest's clock as it applies the events: 40 minutes into an hour. */
const RECEIVED_MS = Date.parse('2026-11-11T00:40:00Z');
const HOUR = epochHourOf(RECEIVED_MS);

const view = (userId: string, itemId: string, timestampMs = RECEIVED_MS): LiveEvent => ({
  userId,
  itemId,
  type: 'view',
  timestampMs,
});
const hours = (...entries: [number, [string, number][]][]) =>
  new Map(entries.map(([hour, items]) => [hour, new Map(items)]));

describeOnEveryBackend('rebuilt trending counted hashes', 'live-trending-rebuilt', (backend) => {
  const counted = (userId: string, hour: number) =>
    backend().redis.hgetall(backend().keys.userTrendingCounted(userId, hour));

  it('keeps the heavier weight per item of a hash holding the hour, replaces an older hour and leaves a newer one', async () => {
    const { redis, keys } = backend();
    // What ingest counted since the rebuild's read: a view of this hour and one of the hour after the previous.
    await recordLiveEvents(
      redis,
      keys,
      [view('merged', 'counted-since'), view('merged', 'both')],
      RECEIVED_MS,
    );
    await recordLiveEvents(
      redis,
      keys,
      [view('newer', 'next-hour', RECEIVED_MS + 3_600_000)],
      RECEIVED_MS + 3_600_000,
    );
    const replaced = await replaceTrendingCounted(redis, keys, [
      { userId: 'merged', hours: hours([HOUR - 1, [['earlier', 3]]], [HOUR, [['both', 5]]]) },
      { userId: 'newer', hours: hours([HOUR - 1, [['older', 2]]]) },
    ]);
    expect(replaced).toEqual({ replaced: 2, erased: [], withdrawn: [] });
    expect(await counted('merged', HOUR)).toEqual({ '': String(HOUR), 'counted-since': '1', both: '5' });
    expect(await counted('merged', HOUR - 1)).toEqual({ '': String(HOUR - 1), earlier: '3' });
    expect(await counted('newer', HOUR - 1)).toEqual({ '': String(HOUR + 1), 'next-hour': '1' });
    const ttl = await redis.ttl(keys.userTrendingCounted('merged', HOUR - 1));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2 * 3600);
    // The user's next view of an item the rebuild counted adds nothing.
    await recordLiveEvents(redis, keys, [view('merged', 'both', RECEIVED_MS + 1)], RECEIVED_MS + 1);
    expect(await counted('merged', HOUR)).toEqual({ '': String(HOUR), 'counted-since': '1', both: '5' });
  });

  it('writes nothing for a user erased after the read, and deletes the hashes of one who withdrew consent', async () => {
    const { redis, keys } = backend();
    await recordLiveEvents(
      redis,
      keys,
      [view('}erased', 'private'), view('}withdrawn', 'private')],
      RECEIVED_MS,
    );
    await eraseUserLiveState(redis, keys, '}erased', 4);
    await writeUserProfile(redis, keys, '}withdrawn', {
      personalization: false,
      push: false,
      timezone: null,
      revision: 1,
    });
    const replaced = await replaceTrendingCounted(redis, keys, [
      { userId: '}erased', hours: hours([HOUR, [['private', 1]]]) },
      { userId: '}withdrawn', hours: hours([HOUR, [['private', 1]]]) },
    ]);
    expect(replaced).toEqual({ replaced: 0, erased: ['}erased'], withdrawn: ['}withdrawn'] });
    for (const userId of ['}erased', '}withdrawn'])
      expect(
        await redis.exists(
          keys.userTrendingCounted(userId, HOUR),
          keys.userTrendingCounted(userId, HOUR - 1),
        ),
      ).toBe(0);
  });
});
