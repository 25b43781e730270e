import type { RedisClient } from './client';
import type { RedisKeys } from './keys';
import { newUserStamp, type UserStateRead, type UserStateReply, userStateOf } from './live-state';
import { BatchScript, type TurnBatch } from './turn-batch';

/** What one read of a user's reply cache found: their current stamp and the entry for the query, each or null. */
export interface UserReplyRead {
  stamp: string | null;
  entry: string | null;
  /**
   * the user's state, read at the same instant as the stamp, when the entry was not written under that stamp
   * (null when it was: the entry is then likely served as is)
   */
  state: UserStateRead | null;
}

const readUserReplyScript = new BatchScript('read-user-reply', 5);

/**
 * The user's stamp and one cached entry in one script call (all keys share the user's slot), sent with the other
 * requests of this event-loop turn; when the entry was not written under the current stamp, the user's state for
 * computing the answer comes in the same call (read-user-reply.lua), so a miss costs no second round trip.
 */
export async function readUserReply(
  batch: TurnBatch,
  keys: RedisKeys,
  userId: string,
  queryKey: string,
  historyLength: number,
): Promise<UserReplyRead> {
  const reply = (await batch.send(readUserReplyScript, [
    keys.userStamp(userId),
    keys.userReply(userId, queryKey),
    keys.userHistory(userId),
    keys.userPurchased(userId),
    keys.userProfile(userId),
    historyLength,
  ])) as [string | null, string | null] | [string | null, string | null, ...UserStateReply];
  const [stamp, entry] = reply;
  return {
    stamp: stamp ?? null,
    entry: entry ?? null,
    state:
      reply.length === 2
        ? null
        : await userStateOf(batch, keys, userId, historyLength, reply.slice(2) as UserStateReply),
  };
}

/**
 * Gives a user with no stamp (never written, erased, or an earlier claim expired) a new one, unless a writer set
 * one meanwhile; returns the token set, or null. Issue it before reading the data the answer comes from. It
 * expires after `ttlMs`, so users who are only ever read leave nothing behind; a writer's stamp replaces it.
 */
export async function claimUserStamp(
  redis: RedisClient,
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
