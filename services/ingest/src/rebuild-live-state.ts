import { type Pool, readHourlyItemWeights, readRecentHistories, readUserProfiles } from '@elevens/db';
import {
  addTrendingCounts,
  clearTrendingHours,
  epochHourOf,
  LIVE_HISTORY_LENGTH,
  LIVE_HISTORY_TYPES,
  type RedisClient,
  type RedisKeys,
  replaceTrendingCounted,
  replaceUserLiveState,
  TRENDING_BUCKET_TTL_SECONDS,
  type TrendingCount,
  trendingWeight,
  type UserLiveState,
  type UserTrendingCounted,
  writeUserProfile,
} from '@elevens/redis-stores';

const HOUR_MS = 3_600_000;

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
 * counted again, with what each shopper counted of the hours the api reads (ingest's bound of one count per shopper,
 * item and hour). Users without personalization consent get no live state: a history left of them is deleted.
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
  for await (const row of readRecentHistories(
    pool,
    options.sinceMs,
    LIVE_HISTORY_LENGTH,
    LIVE_HISTORY_TYPES,
  )) {
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
    const overcounted = await rebuildTrendingCounted(pool, redis, keys, {
      fromHour: Math.max(firstHour, lastHour - 1),
      lastHour,
      batchSize,
    });
    const hours = Array.from({ length: lastHour - firstHour + 1 }, (_, i) => firstHour + i);
    await clearTrendingHours(redis, keys, hours);
    const touched = new Set<number>();
    let counts: TrendingCount[] = [];
    // Each shopper once per item and hour, by their heaviest event type, as ingest counts them live.
    for await (const row of readHourlyItemWeights(pool, firstHour * HOUR_MS, trendingWeight)) {
      // Events timestamped ahead of the clock count in its hour, as ingest counts them (sendLiveEvents).
      const epochHour = Math.min(row.epochHour, lastHour);
      let weight = row.weight;
      if (epochHour === lastHour && overcounted.has(row.itemId)) {
        weight -= overcounted.get(row.itemId)!;
        overcounted.delete(row.itemId);
      }
      counts.push({ epochHour, itemId: row.itemId, weight });
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

/**
 * Rebuilds, from the events since `fromHour` (at most the hours the api reads: `lastHour`, the rebuild's clock's,
 * and the one before), what each shopper counted of them in their counted hashes (`replaceTrendingCounted`), as
 * ingest would have kept them applying the events one by one: per user, hour and item the weight of their heaviest
 * event type, an event timestamped ahead of the clock in `lastHour`. Written before the counters are cleared, and
 * merged with what ingest counted meanwhile (the heavier weight stays). Answers per item how much the hourly counts
 * read after it overcount `lastHour`: they count a shopper once per hour of the events' own times, ingest once in
 * the clock's hour for all of those ahead of it.
 */
async function rebuildTrendingCounted(
  pool: Pool,
  redis: RedisClient,
  keys: RedisKeys,
  { fromHour, lastHour, batchSize }: { fromHour: number; lastHour: number; batchSize: number },
): Promise<Map<string, number>> {
  const overcounted = new Map<string, number>();
  let batch: UserTrendingCounted[] = [];
  let current = null as { userId: string; hours: Map<number, Map<string, number>> } | null;
  // The current user's weights per item and hour of their events' own times, from `lastHour` on.
  let ahead = new Map<string, Map<number, number>>();
  const endUser = () => {
    for (const [itemId, byHour] of ahead) {
      if (byHour.size < 2) continue;
      let sum = 0;
      let heaviest = 0;
      for (const weight of byHour.values()) {
        sum += weight;
        heaviest = Math.max(heaviest, weight);
      }
      overcounted.set(itemId, (overcounted.get(itemId) ?? 0) + sum - heaviest);
    }
    ahead = new Map();
  };
  // Every event of the span (no per-user cap): a shopper's counts cover all their items, not their newest 200.
  for await (const row of readRecentHistories(
    pool,
    fromHour * HOUR_MS,
    Number.MAX_SAFE_INTEGER,
    LIVE_HISTORY_TYPES,
  )) {
    // Purchases before the span come with the user's rows (for the purchased set): not of these hours.
    if (!row.inHistory) continue;
    const weight = trendingWeight(row.type);
    if (weight === 0) continue;
    if (current?.userId !== row.userId) {
      endUser();
      if (batch.length >= batchSize) {
        await replaceTrendingCounted(redis, keys, batch);
        batch = [];
      }
      current = { userId: row.userId, hours: new Map() };
      batch.push(current);
    }
    const ownHour = epochHourOf(row.timestampMs);
    const hour = Math.min(ownHour, lastHour);
    let items = current.hours.get(hour);
    if (!items) {
      items = new Map();
      current.hours.set(hour, items);
    }
    items.set(row.itemId, Math.max(items.get(row.itemId) ?? 0, weight));
    if (ownHour >= lastHour) {
      let byHour = ahead.get(row.itemId);
      if (!byHour) {
        byHour = new Map();
        ahead.set(row.itemId, byHour);
      }
      byHour.set(ownHour, Math.max(byHour.get(ownHour) ?? 0, weight));
    }
  }
  endUser();
  await replaceTrendingCounted(redis, keys, batch);
  return overcounted;
}
