import type { PutUserBody } from '@elevens/domain';
import { forgetUserRollups } from '../attribution';
import { anonymiseUserEvents } from '../events';
import { type Pool, withTransaction } from '../pool';
import { type ErasedUserRows, eraseUser, type StoredUserProfile, upsertUser } from '../users';

/** Users' profiles (time zone, consent) and what erasure and withdrawn consent change of their rows. */
export class UserStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Creates or updates a user's preferences, fields left out keeping their stored values; with its revision. A
   * profile without personalization consent detaches the user's stored events from them, and deletes their
   * per-user attribution roll-ups, in the same transaction: a withdrawal is never committed without it, whatever
   * fails after.
   */
  upsert(userId: string, body: PutUserBody): Promise<StoredUserProfile> {
    return withTransaction(this.pool, async (client) => {
      const stored = await upsertUser(client, userId, body);
      if (!stored.profile.consent.personalization) {
        await anonymiseUserEvents(client, userId);
        await forgetUserRollups(client, userId);
      }
      return stored;
    });
  }

  /**
   * Deletes every row about the user (events, their idempotency keys, profile) in one transaction, and erases
   * them from `liveState` before it commits, with the erasure's revision: the live state then follows the order
   * the user's profile writes and erasures commit in. When the live state fails, nothing is erased.
   */
  async erase(
    userId: string,
    liveState: { erase(userId: string, revision: number): Promise<number> },
  ): Promise<ErasedUserRows & { redisKeys: number }> {
    const { copied, ...rows } = await eraseUser(this.pool, userId, (revision) =>
      liveState.erase(userId, revision),
    );
    return { ...rows, redisKeys: copied };
  }
}
