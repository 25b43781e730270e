import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys';
import { newUserStamp } from './live-state';
import type { TurnBatch } from './turn-batch';

/** What one read of a user's reply cache found: their current stamp and the entry for the query, each or null. */
export interface UserReplyRead {
  stamp: string | null;
  entry: string | null;
}

/**
 * The user's stamp and one cached entry in one MGET (both keys share the user's slot), sent with the other
 * requests of this event-loop turn. A caller that computes on a miss reads this before the data: the stamp then
 * tells whether any write came after its reads.
 */
export async function readUserReply(
  batch: TurnBatch,
  keys: RedisKeys,
  userId: string,
  queryKey: string,
): Promise<UserReplyRead> {
  const [stamp, entry] = (await batch.send('mget', [
    keys.userStamp(userId),
    keys.userReply(userId, queryKey),
  ])) as (string | null)[];
  return { stamp: stamp ?? null, entry: entry ?? null };
}

/**
 * Gives a user with no stamp (never written, erased, or an earlier claim expired) a new one, unless a writer set
 * one meanwhile; returns the token set, or null. Issue it before reading the data the answer comes from. It
 * expires after `ttlMs`, so users who are only ever read leave nothing behind; a writer's stamp replaces it.
 */
export async function claimUserStamp(
  redis: Redis,
  keys: RedisKeys,
  userId: string,
  ttlMs: number,
): Promise<string | null> {
  const stamp = newUserStamp();
  return (await redis.set(keys.userStamp(userId), stamp, 'PX', ttlMs, 'NX')) === 'OK' ? stamp : null;
}

/**
 * Stores one cached entry for `ttlMs`, through the same TurnBatch as `readUserReply`: a read of a later turn
 * reaches Redis after it.
 */
export async function writeUserReply(
  batch: TurnBatch,
  keys: RedisKeys,
  userId: string,
  queryKey: string,
  entry: string,
  ttlMs: number,
): Promise<void> {
  await batch.send('set', [keys.userReply(userId, queryKey), entry, 'PX', ttlMs]);
}
