/** Merchandiser rules mirrored from Postgres for serving, which polls the small version key. */
export function rulesKeys(prefix: string) {
  return {
    /** string: JSON `{ version, boosts, pins, updatedBy, updatedAt }` of the boost rules in force */
    rulesBoosts: () => `${prefix}rules:boosts`,
    /** string: the version (Postgres row) rulesBoosts holds, written with it; readers poll this */
    rulesBoostsVersion: () => `${prefix}rules:boosts:version`,
  };
}
