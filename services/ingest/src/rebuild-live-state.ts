import { type Pool, readHourlyItemWeights, readRecentHistories, readUserProfiles } from '@elevens/db';
import {
  addTrendingCounts,
  clearTrendingHours,
  epochHourOf,
  LIVE_HISTORY_LENGTH,
  type RedisClient,
  type RedisKeys,
  replaceUserLiveState,
  TRENDING_BUCKET_TTL_SECONDS,
  type TrendingCount,
  trendingWeight,
  type UserLiveState,
  writeUserProfile,
} from '@elevens/redis-stores';

export interface RebuildLiveStateOptions {
  /** events from this time on (epoch ms) are replayed into the live state */
  sinceMs: number;
  /** default Date.now(); trending counters older than their TTL are not rebuilt */
  nowMs?: number;
  /** users (or trending rows) written to Redis per pipeline */
  batchSize?: number;
}

export interface RebuildLiveStateReport {
  /** users whose history and purchased set were rebuilt */
  users: number;
  /**
   * users left as they were: erased after the rebuild read their events (the erasure's mark stands; nothing of
   * theirs is written)
   */
  erasedSkipped: number;
  /** users who withdrew personalization consent after the rebuild read their events: their history is deleted */
  withdrawnSkipped: number;
  /** profiles (consent and time zone) written from the users table */
  profiles: number;
  historyEntries: number;
  purchases: number;
  trendingHours: number;
}

/**
 * Rebuilds the Redis live state from Postgres (the source of truth) after Redis lost data or missed updates:
 * every user with events since `sinceMs` gets their history (of those events) and their purchased set (of all
 * their purchases, as ingest keeps it) replaced, every stored profile (consent and time zone, which the push and
 * recommendation paths read from Redis) is written again, and the hourly trending counters of that span are
 * counted again. Users without personalization consent get no live state: a history left of them is deleted.
 * Events ingest applies while the rebuild runs stay (stored entries newer than a user's newest read one are kept),
 * and a user erased or withdrawn after their events were read gets nothing of them (replace-user-live-state.lua).
 */
export async function rebuildLiveState(
  pool: Pool,
  redis: RedisClient,
  keys: RedisKeys,
  options: RebuildLiveStateOptions,
): Promise<RebuildLiveStateReport> {
  const batchSize = options.batchSize ?? 500;
  const report: RebuildLiveStateReport = {
    users: 0,
    erasedSkipped: 0,
    withdrawnSkipped: 0,
    profiles: 0,
    historyEntries: 0,
    purchases: 0,
    trendingHours: 0,
  };

  let batch: UserLiveState[] = [];
  let current = null as UserLiveState | null;
  const flushUsers = async () => {
    const { replaced, erased, withdrawn } = await replaceUserLiveState(redis, keys, batch, {
      keepNewerStored: true,
    });
    report.users += replaced;
    report.erasedSkipped += erased.length;
    report.withdrawnSkipped += withdrawn.length;
    batch = [];
  };
  for await (const row of readRecentHistories(pool, options.sinceMs, LIVE_HISTORY_LENGTH)) {
    if (current?.userId !== row.userId) {
      // Only users whose rows are all read: a user's rows follow one another.
      if (batch.length >= batchSize) await flushUsers();
      current = { userId: row.userId, history: [], purchased: [] };
      batch.push(current);
    }
    if (row.inHistory) {
      current.history.push({ type: row.type, itemId: row.itemId, timestampMs: row.timestampMs });
      report.historyEntries++;
    }
    if (row.type === 'purchase' && !current.purchased.includes(row.itemId)) {
      current.purchased.push(row.itemId);
      report.purchases++;
    }
  }
  await flushUsers();

  for await (const profiles of readUserProfiles(pool, batchSize)) {
    await Promise.all(
      profiles.map(async ({ profile: { userId, timezone, consent }, revision }) => {
        // A profile written since this page was read carries a larger revision and stays.
        const written = await writeUserProfile(redis, keys, userId, { ...consent, timezone, revision });
        // Not written: an erasure (whose mark must stay) or a later write reached Redis first and decides. Written
        // without consent: the replace deletes the history, unless an erasure's mark has come since.
        if (written && !consent.personalization)
          await replaceUserLiveState(redis, keys, [{ userId, history: [], purchased: [] }]);
      }),
    );
    report.profiles += profiles.length;
  }

  // Only hours whose counters would still be alive; the first hour is counted whole.
  const nowMs = options.nowMs ?? Date.now();
  const firstHour = epochHourOf(Math.max(options.sinceMs, nowMs - TRENDING_BUCKET_TTL_SECONDS * 1000));
  const lastHour = epochHourOf(nowMs);
  if (firstHour <= lastHour) {
    const hours = Array.from({ length: lastHour - firstHour + 1 }, (_, i) => firstHour + i);
    await clearTrendingHours(redis, keys, hours);
    const touched = new Set<number>();
    let counts: TrendingCount[] = [];
    // Each shopper once per item and hour, by their heaviest event type, as ingest counts them live.
    for await (const row of readHourlyItemWeights(pool, firstHour * 3_600_000, trendingWeight)) {
      // Events timestamped ahead of the clock count in its hour, as ingest counts them (sendLiveEvents).
      const epochHour = Math.min(row.epochHour, lastHour);
      counts.push({ epochHour, itemId: row.itemId, weight: row.weight });
      touched.add(epochHour);
      if (counts.length >= batchSize) {
        await addTrendingCounts(redis, keys, counts);
        counts = [];
      }
    }
    await addTrendingCounts(redis, keys, counts);
    report.trendingHours = touched.size;
  }
  return report;
}
