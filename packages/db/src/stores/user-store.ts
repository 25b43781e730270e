import type { PutUserBody } from '@elevens/domain';
import { anonymiseUserEvents } from '../events';
import type { Pool } from '../pool';
import { type ErasedUserRows, eraseUser, type StoredUserProfile, upsertUser } from '../users';

/** Users' profiles (time zone, consent) and what erasure and withdrawn consent change of their rows. */
export class UserStore {
  constructor(private readonly pool: Pool) {}

  /** Creates or updates a user's preferences, fields left out keeping their stored values; with its revision. */
  upsert(userId: string, body: PutUserBody): Promise<StoredUserProfile> {
    return upsertUser(this.pool, userId, body);
  }

  /** Detaches the user's stored events from them (withdrawn personalization consent); how many. */
  anonymiseEvents(userId: string): Promise<number> {
    return anonymiseUserEvents(this.pool, userId);
  }

  /** Deletes every row about the user (events, their idempotency keys, profile) in one transaction. */
  erase(userId: string): Promise<ErasedUserRows> {
    return eraseUser(this.pool, userId);
  }
}
