import type { RedisClient } from '../client';
import type { RedisKeys } from '../keys';
import {
  claimUserStamp,
  type ReplyEntry,
  readUserReply,
  type UserReplyRead,
  writeUserReply,
} from '../reply-cache';
import type { TurnBatch } from '../turn-batch';

/**
 * Per-user cached recommendation answers in Redis, each valid while the user's stamp holds the token it was
 * computed under (reply-cache.ts owns the keys, the script and the entry's format; the API owns the answer's JSON).
 */
export class ReplyCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    /** reads and writes of one event-loop turn go to Redis in one write through it, in order */
    private readonly turnBatch: TurnBatch,
  ) {}

  /**
   * The user's stamp and the entry for `queryKey`, with the user's state when the entry is not current, and
   * whether an answer computed from it may be stored: with `markMs` > 0 at the query's second miss under one
   * stamp (the first leaves a mark living `markMs`) or when an entry under the stamp came back, with 0 at every
   * miss.
   */
  read(userId: string, queryKey: string, historyLength: number, markMs: number): Promise<UserReplyRead> {
    return readUserReply(this.turnBatch, this.keys, userId, queryKey, historyLength, markMs);
  }

  /** Gives a user with no stamp a new one expiring after `ttlMs`; the token set, or null when one was set meanwhile. */
  claimStamp(userId: string, ttlMs: number): Promise<string | null> {
    return claimUserStamp(this.redis, this.keys, userId, ttlMs);
  }

  /** Stores one entry for `ttlMs`, after the reads already sent through the turn batch. */
  write(userId: string, queryKey: string, entry: ReplyEntry, ttlMs: number): Promise<void> {
    return writeUserReply(this.turnBatch, this.keys, userId, queryKey, entry, ttlMs);
  }
}
