/**
 * Model, user live state, trending and catalog keys. Model keys carry the model version so a build can write a
 * whole new model before switching `modelCurrent`. User keys put the user id in a hash tag, so one user's keys
 * share a Redis Cluster slot.
 */
export function coreKeys(prefix: string) {
  const model = (version: string, part: string) => `${prefix}model:${version}:${part}`;
  const user = (userId: string, part: string) => `${prefix}user:{${userId}}:${part}`;
  return {
    prefix,

    /** string: the version readers serve */
    modelCurrent: () => `${prefix}model:current`,
    /** zset: published versions scored by publish time (ms) */
    modelVersions: () => `${prefix}model:versions`,
    /** zset: versions taken out of service by a rollback, scored by retire time (ms) */
    modelRetired: () => `${prefix}model:retired`,
    /** hash: a version's metadata; written last before publishing, so its presence means "complete" */
    modelMeta: (version: string) => model(version, 'meta'),
    /** string: the version's item ids joined by "\n"; packed lists refer to items by their index here */
    modelItems: (version: string) => model(version, 'items'),
    /** string: each item's category id (or empty), joined by "\n", aligned with modelItems */
    modelItemCategories: (version: string) => model(version, 'item-categories'),
    /** hash: item id → packed neighbours */
    modelNeighbors: (version: string) => model(version, 'neighbors'),
    /** hash: item id → packed bought-together items */
    modelBoughtTogether: (version: string) => model(version, 'bought-together'),
    /** string: packed popular items */
    modelPopular: (version: string) => model(version, 'popular'),
    /** hash: category id → packed popular items of that category */
    modelPopularByCategory: (version: string) => model(version, 'popular-by-category'),
    /** string: packed trending items */
    modelTrending: (version: string) => model(version, 'trending'),
    /** Every key of one model version, for deletion. */
    modelVersionKeys(version: string): string[] {
      return [
        this.modelMeta(version),
        this.modelItems(version),
        this.modelItemCategories(version),
        this.modelNeighbors(version),
        this.modelBoughtTogether(version),
        this.modelPopular(version),
        this.modelPopularByCategory(version),
        this.modelTrending(version),
      ];
    },

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
    /** Every key about one user, for erasure (reply entries excepted: no longer served once the stamp is gone). */
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

    /** set: item ids that must not be served (blocked or unavailable) */
    catalogUnservable: () => `${prefix}catalog:unservable`,
    /** string counter: bumped on every change of catalogUnservable, so readers poll one small key */
    catalogVersion: () => `${prefix}catalog:version`,
  };
}
