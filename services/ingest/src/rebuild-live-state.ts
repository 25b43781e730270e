import {
  type Pool,
  readEventsInWindow,
  readHourlyItemWeights,
  readRecentHistories,
  readUserProfiles,
} from '@elevens/db';
import {
  addTrendingCounts,
  addTrendingShoppers,
  clearTrendingHours,
  epochHourOf,
  LIVE_HISTORY_LENGTH,
  LIVE_HISTORY_TYPES,
  type RedisClient,
  type RedisKeys,
  replaceTrendingCounted,
  replaceUserLiveState,
  restartTrendingHours,
  type ShopperTrendingWeight,
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
  /**
   * Runs once the counters of the hours the api reads are restarted, before the events are read back for them: the
   * step where ingest's writes race the rebuild (tests record events there).
   */
  beforeTrendingRead?: () => Promise<void>;
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
 * The counters of the hours the api reads count each event once, however ingest's writes interleave with the
 * rebuild's (`restartTrendingHours`).
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
    const withdrawn: string[] = [];
    await Promise.all(
      profiles.map(async ({ profile: { userId, timezone, consent }, revision }) => {
        // A profile written since this page was read carries a larger revision and stays.
        const written = await writeUserProfile(redis, keys, userId, { ...consent, timezone, revision });
        // Not written: an erasure (whose mark must stay) or a later write reached Redis first and decides. Written
        // without consent: the replace deletes the history, unless an erasure's mark has come since.
        if (written && !consent.personalization) withdrawn.push(userId);
      }),
    );
    // One replace for the page's withdrawn users: it sweeps the trending shoppers hashes once for all of them.
    await replaceUserLiveState(
      redis,
      keys,
      withdrawn.map((userId) => ({ userId, history: [], purchased: [] })),
    );
    report.profiles += profiles.length;
  }

  // Only hours whose counters would still be alive; the first hour is counted whole.
  const nowMs = options.nowMs ?? Date.now();
  const firstHour = epochHourOf(Math.max(options.sinceMs, nowMs - TRENDING_BUCKET_TTL_SECONDS * 1000));
  const lastHour = epochHourOf(nowMs);
  if (firstHour > lastHour) return report;
  const readFrom = Math.max(firstHour, lastHour - 1);
  const touched = new Set<number>();
  await rebuildTrendingCounted(pool, redis, keys, { fromHour: readFrom, lastHour, batchSize });

  // The hours before the api's: no answer reads them, and ingest adds each of their events whole; cleared, then
  // counted again (each shopper once per item and hour, by their heaviest event type).
  if (firstHour < readFrom) {
    const earlier = Array.from({ length: readFrom - firstHour }, (_, i) => firstHour + i);
    await clearTrendingHours(redis, keys, earlier);
    let counts: TrendingCount[] = [];
    for await (const row of readHourlyItemWeights(pool, firstHour * HOUR_MS, trendingWeight)) {
      if (row.epochHour >= readFrom) continue;
      counts.push(row);
      touched.add(row.epochHour);
      if (counts.length >= batchSize) {
        await addTrendingCounts(redis, keys, counts);
        counts = [];
      }
    }
    await addTrendingCounts(redis, keys, counts);
  }

  // The hours the api reads, while ingest keeps counting them: restarted, so the rebuild and ingest each send
  // every shopper's heaviest weight per item and the hour keeps the heaviest once (an event ingest sends after the
  // restart that the read below also finds counts once, whichever comes first).
  const readHours = Array.from({ length: lastHour - readFrom + 1 }, (_, i) => readFrom + i);
  await restartTrendingHours(redis, keys, readHours, nowMs);
  await options.beforeTrendingRead?.();
  let weights: ShopperTrendingWeight[] = [];
  for await (const e of trendingEventsSince(pool, readFrom * HOUR_MS, nowMs)) {
    const weight = trendingWeight(e.type);
    if (weight === 0) continue;
    // Events timestamped ahead of the clock count in its hour, as ingest counts them (sendLiveEvents).
    const epochHour = Math.min(epochHourOf(e.timestampMs), lastHour);
    weights.push({ epochHour, shopper: e.userId, itemId: e.itemId, weight });
    touched.add(epochHour);
    if (weights.length >= batchSize) {
      await addTrendingShoppers(redis, keys, weights);
      weights = [];
    }
  }
  await addTrendingShoppers(redis, keys, weights);
  report.trendingHours = touched.size;
  return report;
}

/** How far ahead of ingest's clock an event's time may be (its schema refuses more than a day). */
const LATEST_EVENT_AHEAD_MS = 2 * 24 * HOUR_MS;

/** Every event since `fromMs` (its user, anonymous ones' own, item, type and time), streamed out of Postgres. */
const trendingEventsSince = (pool: Pool, fromMs: number, nowMs: number) =>
  readEventsInWindow(pool, { fromMs, toMs: nowMs + LATEST_EVENT_AHEAD_MS });

/**
 * Rebuilds, from the events since `fromHour` (at most the hours the api reads: `lastHour`, the rebuild's clock's,
 * and the one before), what each shopper counted of them in their counted hashes (`replaceTrendingCounted`), as
 * ingest would have kept them applying the events one by one: per user, hour and item the weight of their heaviest
 * event type, an event timestamped ahead of the clock in `lastHour`. Merged with what ingest counted meanwhile
 * (the heavier weight stays), so a shopper's next event adds only what it weighs above what they counted.
 */
async function rebuildTrendingCounted(
  pool: Pool,
  redis: RedisClient,
  keys: RedisKeys,
  { fromHour, lastHour, batchSize }: { fromHour: number; lastHour: number; batchSize: number },
): Promise<void> {
  let batch: UserTrendingCounted[] = [];
  let current = null as { userId: string; hours: Map<number, Map<string, number>> } | null;
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
      if (batch.length >= batchSize) {
        await replaceTrendingCounted(redis, keys, batch);
        batch = [];
      }
      current = { userId: row.userId, hours: new Map() };
      batch.push(current);
    }
    const hour = Math.min(epochHourOf(row.timestampMs), lastHour);
    let items = current.hours.get(hour);
    if (!items) {
      items = new Map();
      current.hours.set(hour, items);
    }
    items.set(row.itemId, Math.max(items.get(row.itemId) ?? 0, weight));
  }
  await replaceTrendingCounted(redis, keys, batch);
}
