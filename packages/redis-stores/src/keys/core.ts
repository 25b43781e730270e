import { globEscaped } from './glob';
import { userTag } from './user-tag';

/**
 * User live state, trending and catalog keys (the model's are in model.ts). User keys carry the user's hash tag
 * (`userTag`, the push keys' too), so one user's keys share a Redis Cluster slot whatever the id. Each trending hour is one key, with
 * the hash of its shoppers after a rebuild in its slot. The catalog keys share a tag: they are written and read in one transaction.
 */
export function coreKeys(prefix: string) {
  const user = (userId: string, part: string) => `${prefix}user:${userTag(userId)}:${part}`;
  return {
    prefix,

    /** list: the user's recent events, newest first, each `JSON [type, itemId, timestampMs]` */
    userHistory: (userId: string) => user(userId, 'history'),
    /** set: items the user purchased, for exclusion */
    userPurchased: (userId: string) => user(userId, 'purchased'),
    /** hash: consent and time zone as ingest last wrote them */
    userProfile: (userId: string) => user(userId, 'profile'),
    /**
     * string: a token never used before, set by every write of the user's history, purchases or profile after
     * its data (missing: never written, erased, or a reader's token expired); reply caches compare it
     */
    userStamp: (userId: string) => user(userId, 'stamp'),
    /**
     * string with a TTL: one cached recommendation answer for a query (`queryKey`: a hash of it), valid only
     * while `userStamp` still holds the token it was computed under
     */
    userReply: (userId: string, queryKey: string) => user(userId, `reply:${queryKey}`),
    /**
     * sorted set: the query key of each living `userReply` key of the user, scored by when it expires (ms on Redis's
     * clock), so an erasure deletes them without a scan; the script that writes a userReply key adds it and drops
     * those expired (user-reply.lua), and it expires with the last
     */
    userReplyIndex: (userId: string) => user(userId, 'reply-index'),
    /**
     * hash: the trending weight already counted per item of the user's events of one epoch hour (field '': which
     * hour; no item id is empty), one key for even hours and one for odd, so a new hour replaces the one two
     * before without a scan (record-user-events.lua); not named in `keysAboutUser`: erasure and forgetting delete
     * them in a command of their own (and an erasure counts them in the keys it reports)
     */
    userTrendingCounted: (userId: string, epochHour: number) =>
      user(userId, `trending-counted:${epochHour % 2}`),
    /** A SCAN pattern matching every user's userReply keys (entries and first-miss marks). */
    userReplyPattern: () => `${globEscaped(prefix)}user:*:reply:*`,
    /** Every key about one user, for erasure (reply entries excepted: erasure finds them in `userReplyIndex`). */
    keysAboutUser(userId: string): string[] {
      return [
        this.userHistory(userId),
        this.userPurchased(userId),
        this.userProfile(userId),
        this.userStamp(userId),
      ];
    },

    /** zset: item id → weighted event count within one hour (epoch hour number) */
    trendingHour: (epochHour: number) => `${prefix}trending:hour:${epochHour}`,
    /**
     * hash: what each shopper counted of the hour's items since a rebuild restarted the hour's trendingHour
     * (field: `shopperItemField`; field '': the hour), until the api no longer reads the hour (add-trending.lua);
     * an erasure deletes the user's fields (`eraseUserLiveState`).
     * Its hash tag is trendingHour's whole key (which has no braces: the prefix allows none), so both share a
     * cluster slot and one script reads and writes them.
     */
    trendingHourShoppers: (epochHour: number) => `${prefix}{${prefix}trending:hour:${epochHour}}:shoppers`,

    /** set: item ids that must not be served (blocked or unavailable) */
    catalogUnservable: () => `${prefix}catalog:{unservable}`,
    /** string counter: bumped on every change of catalogUnservable, so readers poll one small key */
    catalogVersion: () => `${prefix}catalog:{unservable}:version`,
    /**
     * string: set only by a restore of catalogUnservable from Postgres; while it is missing (Redis lost its data,
     * or never had it) the set may lack items and no reader takes it for the whole catalog's
     */
    catalogComplete: () => `${prefix}catalog:{unservable}:complete`,
    /**
     * set: ids of catalog writes whose change was applied to catalogUnservable before their commit and not yet
     * confirmed (one left behind is a write whose commit failed or whose process died first); read with the version
     */
    catalogUnconfirmed: () => `${prefix}catalog:{unservable}:unconfirmed`,
  };
}
