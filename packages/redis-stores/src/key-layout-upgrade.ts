import { type RedisClient, serversOf } from './client';
import type { RedisKeys } from './keys';
import { globEscaped } from './keys/glob';
import { DEFAULT_MODEL_LINE } from './keys/model';

type PartKey = (keys: RedisKeys, version: string) => string;

/**
 * Each part of a model version, with its key in the default line. Meta comes last: its presence means "complete"
 * in both layouts, so it is moved after every other part.
 */
const MODEL_PARTS: readonly (readonly [part: string, newKey: PartKey])[] = [
  ['items', (keys, version) => keys.modelItems(version)],
  ['item-categories', (keys, version) => keys.modelItemCategories(version)],
  ['neighbors', (keys, version) => keys.modelNeighbors(version)],
  ['bought-together', (keys, version) => keys.modelBoughtTogether(version)],
  ['popular', (keys, version) => keys.modelPopular(version)],
  ['popular-by-category', (keys, version) => keys.modelPopularByCategory(version)],
  ['trending', (keys, version) => keys.modelTrending(version)],
  ['meta', (keys, version) => keys.modelMeta(version)],
];

/**
 * The key names of releases before model lines and the catalog's hash tag. Frozen: nothing writes them any more,
 * only this upgrade reads them.
 */
function oldLayoutKeys(prefix: string) {
  const model = `${prefix}model:`;
  return {
    modelCurrent: `${model}current`,
    modelVersions: `${model}versions`,
    modelRetired: `${model}retired`,
    modelPart: (version: string, part: string) => `${model}${version}:${part}`,
    /** A SCAN pattern matching every old model key (and the new ones: check with `isModelPart`). */
    modelPattern: `${globEscaped(model)}*`,
    /** Whether `key` is an old `model:<version>:<part>` key. */
    isModelPart(key: string): boolean {
      if (!key.startsWith(model)) return false;
      const rest = key.slice(model.length);
      // New-layout keys carry the line's hash tag right after `model:`; old versions never start with '{'.
      return (
        !rest.startsWith('{') &&
        MODEL_PARTS.some(([part]) => rest.length > part.length + 1 && rest.endsWith(`:${part}`))
      );
    },
    catalogUnservable: `${prefix}catalog:unservable`,
    catalogVersion: `${prefix}catalog:version`,
  };
}

/** What `upgradeKeyLayout` moved; nothing when `model` and `catalog` are both false. */
export interface KeyLayoutUpgrade {
  /** whether an old-layout model was found; its keys are gone now */
  model: boolean;
  /** complete versions of the old model now in the default line (published and retired ones) */
  modelVersions: number;
  /** the default line's own current version, kept over a different one the old layout pointed at; else null */
  keptCurrent: string | null;
  /** the version the old layout served, when there was one */
  oldCurrent: string | null;
  /**
   * old model keys deleted without a move: parts of versions never published or deleted but for a few keys, and
   * copies of versions the default line already held
   */
  discardedKeys: number;
  /** whether an old-layout catalog (unservable set or its counter) was found; its keys are gone now */
  catalog: boolean;
  /** unservable item ids of the old set, now in the new one */
  unservableItems: number;
}

const SCAN_COUNT = 1_000;

/**
 * Moves keys of the layout before today's cluster-safe one to their new names: the old default model becomes the
 * default model line, the old unservable set and its counter the tagged catalog keys. Every command touches one
 * key (DUMP/RESTORE, never COPY or a multi-key command, as old and new names lie in different slots), so it works
 * on a Redis Cluster too. Idempotent: each key is deleted only once its content is in the new layout, the old
 * model's pointer and version lists last, so a run cut short is finished by the next, and a run after a complete
 * one finds nothing.
 */
export async function upgradeKeyLayout(redis: RedisClient, keys: RedisKeys): Promise<KeyLayoutUpgrade> {
  const old = oldLayoutKeys(keys.prefix);
  return { ...(await upgradeModel(redis, keys, old)), ...(await upgradeCatalog(redis, keys, old)) };
}

type OldLayoutKeys = ReturnType<typeof oldLayoutKeys>;

async function upgradeModel(redis: RedisClient, keys: RedisKeys, old: OldLayoutKeys) {
  const [oldCurrent, published, retired] = await Promise.all([
    redis.get(old.modelCurrent),
    redis.zrange(old.modelVersions, 0, -1, 'WITHSCORES'),
    redis.zrange(old.modelRetired, 0, -1, 'WITHSCORES'),
  ]);
  const upgrade: Omit<KeyLayoutUpgrade, 'catalog' | 'unservableItems'> = {
    model: false,
    modelVersions: 0,
    keptCurrent: null,
    oldCurrent,
    discardedKeys: 0,
  };
  if (oldCurrent === null && published.length === 0 && retired.length === 0) return upgrade;
  upgrade.model = true;

  const listed = new Set<string>(oldCurrent === null ? [] : [oldCurrent]);
  for (const list of [published, retired]) for (let i = 0; i < list.length; i += 2) listed.add(list[i]!);
  const complete = new Set<string>();
  for (const version of listed) {
    const { outcome, discardedKeys } = await moveVersion(redis, keys, old, version);
    upgrade.discardedKeys += discardedKeys;
    if (outcome === 'gone') continue;
    complete.add(version);
    if (outcome === 'moved') upgrade.modelVersions++;
  }
  // The new lists keep what they already hold (ZADD NX): a version a new build published keeps its own time.
  for (const [list, newKey] of [
    [published, keys.modelVersions()],
    [retired, keys.modelRetired()],
  ] as const)
    for (let i = 0; i < list.length; i += 2)
      if (complete.has(list[i]!)) await redis.zadd(newKey, 'NX', list[i + 1]!, list[i]!);
  if (oldCurrent !== null && complete.has(oldCurrent)) {
    const set = await redis.set(keys.modelCurrent(), oldCurrent, 'NX');
    if (set === null) {
      const current = await redis.get(keys.modelCurrent());
      if (current !== oldCurrent) upgrade.keptCurrent = current;
    }
  }

  // Parts no list names (a build that failed before publishing, a deletion cut short) cannot be served: dropped.
  for (const server of serversOf(redis)) {
    let cursor = '0';
    do {
      const [next, found] = await server.scan(cursor, 'MATCH', old.modelPattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const key of found) if (old.isModelPart(key)) upgrade.discardedKeys += await redis.unlink(key);
    } while (cursor !== '0');
  }
  for (const key of [old.modelCurrent, old.modelVersions, old.modelRetired]) await redis.unlink(key);
  return upgrade;
}

/**
 * Moves one version into the default line: 'moved' when its parts were moved now, 'present' when the line
 * already held it whole (a run cut short, or a new build of the same version), 'gone' when neither layout has its
 * meta (deleted, or never complete). Its old keys are deleted in every case; `discardedKeys` counts those deleted
 * without a move.
 */
async function moveVersion(
  redis: RedisClient,
  keys: RedisKeys,
  old: OldLayoutKeys,
  version: string,
): Promise<{ outcome: 'moved' | 'present' | 'gone'; discardedKeys: number }> {
  const dropOldParts = async () => {
    let dropped = 0;
    for (const [part] of MODEL_PARTS) dropped += await redis.unlink(old.modelPart(version, part));
    return dropped;
  };
  if ((await redis.exists(keys.modelMeta(version))) === 1)
    return { outcome: 'present', discardedKeys: await dropOldParts() };
  if ((await redis.exists(old.modelPart(version, 'meta'))) === 0)
    return { outcome: 'gone', discardedKeys: await dropOldParts() };
  // Registered before its parts are written, as ModelLine.publish does.
  await redis.sadd(keys.modelLines(), DEFAULT_MODEL_LINE);
  if ((await redis.hsetnx(keys.modelVersionLines(), version, DEFAULT_MODEL_LINE)) === 0) {
    const owner = await redis.hget(keys.modelVersionLines(), version);
    if (owner !== DEFAULT_MODEL_LINE)
      throw new Error(
        `model version ${version} of the old layout is also a version of the model line ${owner}; delete one of them`,
      );
  }
  for (const [part, newKey] of MODEL_PARTS) {
    // ioredis types DUMP's reply as a Buffer; a missing key (a version without trending, say) gives null.
    const dumped = (await redis.dumpBuffer(old.modelPart(version, part))) as Buffer | null;
    // Model keys never expire: TTL 0. REPLACE overwrites what a run cut short moved of this version.
    if (dumped !== null) await redis.restore(newKey(keys, version), 0, dumped, 'REPLACE');
  }
  await redis.hset(keys.modelMeta(version), 'line', DEFAULT_MODEL_LINE);
  await dropOldParts();
  return { outcome: 'moved', discardedKeys: 0 };
}

async function upgradeCatalog(redis: RedisClient, keys: RedisKeys, old: OldLayoutKeys) {
  const [unservableItems, oldVersion] = await Promise.all([
    redis.scard(old.catalogUnservable),
    redis.get(old.catalogVersion),
  ]);
  if (unservableItems === 0 && oldVersion === null) return { catalog: false, unservableItems };
  let cursor = '0';
  do {
    const [next, members] = await redis.sscan(old.catalogUnservable, cursor, 'COUNT', SCAN_COUNT);
    cursor = next;
    if (members.length > 0) await redis.sadd(keys.catalogUnservable(), ...members);
  } while (cursor !== '0');
  // Serving processes reload the set when the counter differs from the one they last read, and cached answers
  // carry it: raised above both the old and the new counter, it equals neither.
  await redis.incrby(keys.catalogVersion(), Number(oldVersion ?? 0) + 1);
  await redis.unlink(old.catalogUnservable);
  await redis.unlink(old.catalogVersion);
  return { catalog: true, unservableItems };
}
