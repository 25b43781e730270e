/** The model line `elevens build` publishes without `--model`, the one every answer outside an experiment uses. */
export const DEFAULT_MODEL_LINE = 'default';

/** A model line's name: lowercase letters, digits, '_' and '-', so it can sit in a hash tag as it is. */
export const MODEL_LINE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/**
 * Model keys. A model line (the default one, or a named one such as `ease`, published side by side for
 * experiments) keeps every key in one hash tag, `model:{<line>}:…`: its pointer, its version lists and every part
 * of every version share one Redis Cluster slot, so the publish and rollback scripts, which move the pointer and
 * check a version's meta together, are slot-safe. One slot carrying a line is fine because an api process reads a
 * version once, whole, into memory when it starts serving it; requests never read model keys. Version keys carry
 * the version, so a build writes a whole new version before switching `modelCurrent`. Two small keys outside the
 * lines name them (`modelLines`) and say which line a version belongs to (`modelVersionLines`), each touched by
 * single-key commands only.
 */
export function modelKeys(prefix: string) {
  const line = (name: string) => `${prefix}model:{${name}}`;
  const part = (version: string, name: string, what: string) => `${line(name)}:${version}:${what}`;
  return {
    /** string: the version of the line readers serve */
    modelCurrent: (name = DEFAULT_MODEL_LINE) => `${line(name)}:current`,
    /** zset: the line's published versions scored by publish time (ms) */
    modelVersions: (name = DEFAULT_MODEL_LINE) => `${line(name)}:versions`,
    /** zset: the line's versions taken out of service by a rollback, scored by retire time (ms) */
    modelRetired: (name = DEFAULT_MODEL_LINE) => `${line(name)}:retired`,
    /**
     * zset: the line's versions whose publish started and has not switched yet, scored by its start time (ms); one
     * a killed build left here is freed by retention once it is too old to be still publishing
     */
    modelPublishing: (name = DEFAULT_MODEL_LINE) => `${line(name)}:publishing`,
    /** hash: a version's metadata; written last before publishing, so its presence means "complete" */
    modelMeta: (version: string, name = DEFAULT_MODEL_LINE) => part(version, name, 'meta'),
    /**
     * string: the version's item ids joined by "\n" (escaped when the meta's `itemTable` is `escaped`: `\n` a line
     * break, `\\` a backslash); packed lists refer to items by their index here
     */
    modelItems: (version: string, name = DEFAULT_MODEL_LINE) => part(version, name, 'items'),
    /** string: each item's category id (or empty), joined and escaped as modelItems, aligned with it */
    modelItemCategories: (version: string, name = DEFAULT_MODEL_LINE) =>
      part(version, name, 'item-categories'),
    /** hash: item id → packed neighbours */
    modelNeighbors: (version: string, name = DEFAULT_MODEL_LINE) => part(version, name, 'neighbors'),
    /** hash: item id → packed bought-together items */
    modelBoughtTogether: (version: string, name = DEFAULT_MODEL_LINE) =>
      part(version, name, 'bought-together'),
    /** string: packed popular items */
    modelPopular: (version: string, name = DEFAULT_MODEL_LINE) => part(version, name, 'popular'),
    /** hash: category id → packed popular items of that category */
    modelPopularByCategory: (version: string, name = DEFAULT_MODEL_LINE) =>
      part(version, name, 'popular-by-category'),
    /** string: packed trending items */
    modelTrending: (version: string, name = DEFAULT_MODEL_LINE) => part(version, name, 'trending'),
    /** Every key of one version of a line, for deletion (one slot: one command may take them all). */
    modelVersionKeys(version: string, name = DEFAULT_MODEL_LINE): string[] {
      return [
        this.modelMeta(version, name),
        this.modelItems(version, name),
        this.modelItemCategories(version, name),
        this.modelNeighbors(version, name),
        this.modelBoughtTogether(version, name),
        this.modelPopular(version, name),
        this.modelPopularByCategory(version, name),
        this.modelTrending(version, name),
      ];
    },
    /** set: the names of the lines ever published */
    modelLines: () => `${prefix}model:lines`,
    /** hash: version → the line it was published in (versions are unique across lines) */
    modelVersionLines: () => `${prefix}model:version-lines`,
  };
}
