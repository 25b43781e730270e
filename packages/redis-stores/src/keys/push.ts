import { globEscaped } from './glob';
import { userIdOfTag, userTag } from './user-tag';

/**
 * Push-frequency keys. Every key about one user carries the user's hash tag (`userTag`), the same tag as the
 * user's profile, so each push script reads consent and reserves in one Redis Cluster slot. The config and its
 * version share a tag too: they are written in one transaction and read with one MGET.
 */
export function pushKeys(prefix: string) {
  const userHead = `${prefix}push:user:`;
  const user = (userId: string, part: string) => `${userHead}${userTag(userId)}:${part}`;
  return {
    /** string: JSON `{ rules, quietHours }` as stored in Postgres, written on every change */
    pushConfig: () => `${prefix}push:{config}`,
    /** string: a new random id with every pushConfig write (never repeated, even after a loss), so API processes poll one small key */
    pushConfigVersion: () => `${prefix}push:{config}:version`,
    /**
     * zset: reservations scored by reservation time (ms), each naming its decision, whether caps count it, its
     * channel, category, campaign and claimed item (layout in push-reservation.ts)
     */
    pushSends: (userId: string) => user(userId, 'sends'),
    /** zset: item id → ms it was last pushed to the user */
    pushItems: (userId: string) => user(userId, 'items'),
    /**
     * hash: the user's decisions a sender may retry, by the retry key it gave (`Idempotency-Key`), each with its
     * instant, uuid, request fingerprint and outcome; kept for the retry period (layout in push-decide.lua)
     */
    pushRetries: (userId: string) => user(userId, 'retries'),
    /**
     * hash: `channel \t reason \t campaignId` → decisions counted in one hour (epoch hour number). One key per
     * hour: each API process adds to it once per stats flush, not per decision, so it carries little load.
     */
    pushStatsHour: (epochHour: number) => `${prefix}push:stats:${epochHour}`,
    /** A SCAN pattern matching every user's pushSends key (and possibly others: check with `userOfPushSends`). */
    pushSendsPattern: () => `${globEscaped(prefix)}push:user:*:sends`,
    /** The user whose pushSends key `key` is, or null when it is not one. */
    userOfPushSends(key: string): string | null {
      const tail = ':sends';
      if (!key.startsWith(userHead) || !key.endsWith(tail)) return null;
      return userIdOfTag(key.slice(userHead.length, key.length - tail.length));
    },
    /** Every push key about one user, for erasure. */
    pushKeysAboutUser(userId: string): string[] {
      return [this.pushSends(userId), this.pushItems(userId), this.pushRetries(userId)];
    },
  };
}
