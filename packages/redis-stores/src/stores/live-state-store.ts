import type { RedisClient } from '../client';
import type { RedisKeys } from '../keys';
import {
  eraseUserLiveState,
  forgetUserHistory,
  type LiveEvent,
  type LiveEventsSent,
  readUserState,
  sendLiveEvents,
  type UserProfileState,
  type UserStateRead,
  writeUserProfile,
} from '../live-state';
import type { TurnBatch } from '../turn-batch';

/**
 * Users' live state in Redis: recent history, purchased set, consent and time zone, and the stamp every write
 * renews. Ingest writes it and the API reads it through this one owner of its keys and entry format
 * (live-state.ts); Postgres stays the source of truth.
 */
export class LiveState {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    /** reads of one event-loop turn go to Redis in one write through it */
    private readonly turnBatch: TurnBatch,
  ) {}

  /**
   * Applies committed events: each user's history, purchases and stamp (`usersWritten`: what the user's next
   * answer reads, so a writer answers its clients once it settles), then the hourly trending counters
   * (`trendingCounted`), which follow on the same connections. Each event counts in the trending hour of the
   * earlier of its own time and `receivedAtMs` (ingest's clock; without it, its own time).
   */
  recordEvents(events: readonly LiveEvent[], receivedAtMs?: number): LiveEventsSent {
    return sendLiveEvents(this.redis, this.keys, events, receivedAtMs);
  }

  /** A user's newest `historyLength` events, purchases and consent, in one script call of this turn's batch. */
  readUserState(userId: string, historyLength: number): Promise<UserStateRead> {
    return readUserState(this.turnBatch, this.keys, userId, historyLength);
  }

  /**
   * Writes the consent flags and time zone the serving paths read, then a new stamp, unless Redis holds a later
   * revision of the profile; true when written.
   */
  writeProfile(userId: string, profile: UserProfileState): Promise<boolean> {
    return writeUserProfile(this.redis, this.keys, userId, profile);
  }

  /**
   * Deletes a user's history, purchases, counted trending, cached answers and shoppers-hash fields, keeping their
   * profile; false when an erasure's mark was there first.
   */
  forgetHistory(userId: string): Promise<boolean> {
    return forgetUserHistory(this.redis, this.keys, userId);
  }

  /**
   * Deletes every key about a user, the stamp included, and their fields of the trending hours' shoppers hashes,
   * and holds back for an hour their live-state writes committed before the erasure: events, and profiles of a
   * revision before `revision` (the erasure's, from `UserStore.erase`; none held back without it); how many keys
   * existed.
   */
  erase(userId: string, revision?: number): Promise<number> {
    return eraseUserLiveState(this.redis, this.keys, userId, revision);
  }
}
