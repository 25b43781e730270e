import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys';

/** How many recent events per user the live history keeps. */
export const LIVE_HISTORY_LENGTH = 200;
/** Hourly trending buckets live this long (the trending window plus its baseline). */
export const TRENDING_BUCKET_TTL_SECONDS = 8 * 24 * 3600;

export interface LiveEvent {
  userId: string;
  itemId: string;
  type: string;
  timestampMs: number;
}

export interface HistoryEntry {
  type: string;
  itemId: string;
  timestampMs: number;
}

/** Trending counts by type: a purchase says more about demand than a view. */
const TRENDING_WEIGHT: Record<string, number> = { view: 1, click: 1, fav: 2, cart: 3, purchase: 5 };

/**
 * Applies committed events to the live state in one pipeline: each user's capped recent history, their
 * purchased set, and hourly trending counters. Postgres stays the source of truth; this is a cache of it.
 */
export async function recordLiveEvents(
  redis: Redis,
  keys: RedisKeys,
  events: readonly LiveEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const pipeline = redis.pipeline();
  const touchedUsers = new Set<string>();
  const touchedHours = new Set<number>();
  for (const e of events) {
    pipeline.lpush(keys.userHistory(e.userId), JSON.stringify([e.type, e.itemId, e.timestampMs]));
    touchedUsers.add(e.userId);
    if (e.type === 'purchase') pipeline.sadd(keys.userPurchased(e.userId), e.itemId);
    const weight = TRENDING_WEIGHT[e.type];
    if (weight) {
      const hour = Math.floor(e.timestampMs / 3_600_000);
      pipeline.zincrby(keys.trendingHour(hour), weight, e.itemId);
      touchedHours.add(hour);
    }
  }
  for (const userId of touchedUsers) pipeline.ltrim(keys.userHistory(userId), 0, LIVE_HISTORY_LENGTH - 1);
  for (const hour of touchedHours) pipeline.expire(keys.trendingHour(hour), TRENDING_BUCKET_TTL_SECONDS);
  const results = await pipeline.exec();
  const failed = results?.find(([error]) => error);
  if (failed) throw failed[0];
}

export function parseHistoryEntry(raw: string): HistoryEntry | null {
  try {
    const [type, itemId, timestampMs] = JSON.parse(raw) as [string, string, number];
    return typeof itemId === 'string' ? { type, itemId, timestampMs } : null;
  } catch {
    return null;
  }
}

/** Deletes every key about a user; returns how many existed. */
export async function eraseUserLiveState(redis: Redis, keys: RedisKeys, userId: string): Promise<number> {
  return redis.unlink(...keys.keysAboutUser(userId));
}
