/**
 * Push-frequency keys. Every key about one user carries the user id as its hash tag, the same tag as the user's
 * profile, so the decision script reads consent and reserves in one Redis Cluster slot.
 */
export function pushKeys(prefix: string) {
  const user = (userId: string, part: string) => `${prefix}push:user:{${userId}}:${part}`;
  return {
    /** string: JSON `{ rules, quietHours }` as stored in Postgres, written on every change */
    pushConfig: () => `${prefix}push:config`,
    /** string counter: bumped with every pushConfig write, so API processes poll one small key */
    pushConfigVersion: () => `${prefix}push:config:version`,
    /** zset: reservations `uuid \t c|x \t channel \t category` scored by reservation time (ms); x = not counted */
    pushSends: (userId: string) => user(userId, 'sends'),
    /** hash: decision uuid → JSON of what it reserved, for release */
    pushDecisions: (userId: string) => user(userId, 'decisions'),
    /** zset: campaign id → ms until which sending it again is a duplicate */
    pushCampaigns: (userId: string) => user(userId, 'campaigns'),
    /** zset: item id → ms it was last pushed to the user */
    pushItems: (userId: string) => user(userId, 'items'),
    /** hash: `channel \t reason \t campaignId` → decisions counted in one hour (epoch hour number) */
    pushStatsHour: (epochHour: number) => `${prefix}push:stats:${epochHour}`,
    /** Every push key about one user, for erasure. */
    pushKeysAboutUser(userId: string): string[] {
      return [
        this.pushSends(userId),
        this.pushDecisions(userId),
        this.pushCampaigns(userId),
        this.pushItems(userId),
      ];
    },
  };
}
