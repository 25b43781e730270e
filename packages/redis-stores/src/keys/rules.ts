/**
 * Merchandiser rules mirrored from Postgres for serving, which polls the small version key. Both keys share a
 * hash tag: they are written in one transaction, so on a Redis Cluster they must be in one slot.
 */
export function rulesKeys(prefix: string) {
  return {
    /** string: JSON `{ version, boosts, pins, updatedBy, updatedAt }` of the boost rules in force */
    rulesBoosts: () => `${prefix}rules:{boosts}`,
    /** string: the version (Postgres row) rulesBoosts holds, written with it; readers poll this */
    rulesBoostsVersion: () => `${prefix}rules:{boosts}:version`,
  };
}
