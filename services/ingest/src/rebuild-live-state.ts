import { type Pool, readHourlyItemCounts, readRecentHistories, readUserProfiles } from '@elevens/db';
import {
  addTrendingCounts,
  clearTrendingHours,
  epochHourOf,
  forgetUserHistory,
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
  users: number;
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
    profiles: 0,
    historyEntries: 0,
    purchases: 0,
    trendingHours: 0,
  };

  let batch: UserLiveState[] = [];
  let current = null as UserLiveState | null;
  const flushUsers = async () => {
    await replaceUserLiveState(redis, keys, batch);
    batch = [];
  };
  for await (const row of readRecentHistories(pool, options.sinceMs, LIVE_HISTORY_LENGTH)) {
    if (current?.userId !== row.userId) {
      // Only users whose rows are all read: a user's rows follow one another.
      if (batch.length >= batchSize) await flushUsers();
      current = { userId: row.userId, history: [], purchased: [] };
      batch.push(current);
      report.users++;
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
        // Not written: an erasure (whose mark must stay) or a later write reached Redis first and decides.
        if (written && !consent.personalization) await forgetUserHistory(redis, keys, userId);
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
    for await (const row of readHourlyItemCounts(pool, firstHour * 3_600_000)) {
      const weight = trendingWeight(row.type) * row.count;
      if (weight === 0 || row.epochHour > lastHour) continue;
      counts.push({ epochHour: row.epochHour, itemId: row.itemId, weight });
      touched.add(row.epochHour);
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
