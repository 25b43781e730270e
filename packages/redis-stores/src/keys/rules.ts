/**
 * Rules mirrored from Postgres for serving, which polls the small version keys: the merchandiser boosts and the
 * marker of unconfirmed copies of them and of the push config. Each copy's keys share a hash tag: they are
 * written in one transaction, so on a Redis Cluster they must be in one slot.
 */
export function rulesKeys(prefix: string) {
  return {
    /** string: JSON `{ version, boosts, pins, updatedBy, updatedAt }` of the boost rules in force */
    rulesBoosts: () => `${prefix}rules:{boosts}`,
    /** string: the version (Postgres row) rulesBoosts holds, written with it; readers poll this */
    rulesBoostsVersion: () => `${prefix}rules:{boosts}:version`,
    /**
     * set: ids of changes whose copy was written to rulesBoosts before their commit and not yet confirmed (one
     * left behind is a change whose process died or failed between copy and commit); read with the version
     */
    rulesBoostsUnconfirmed: () => `${prefix}rules:{boosts}:unconfirmed`,
    /** set: the same for the push config (`push:{config}`, keys/push.ts), in its slot */
    pushConfigUnconfirmed: () => `${prefix}push:{config}:unconfirmed`,
  };
}
