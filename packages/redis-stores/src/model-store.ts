import type { Redis } from 'ioredis';
import {
  decodeScored,
  decodeScoredInto,
  encodePackedLists,
  encodeScored,
  PACKED_ENTRY_BYTES,
  type ScoredIndexes,
} from './codec';
import type { RedisKeys } from './keys';

/** A scored list over the model's item indexes, in CSR form for many lists at once. */
export interface PackedLists {
  ptr: Uint32Array;
  idx: Uint32Array;
  score: ArrayLike<number>;
}

export interface ModelToPublish {
  version: string;
  algorithm: string;
  builtAtMs: number;
  itemIds: readonly string[];
  /** category id per item index ('' = none) */
  itemCategories: readonly string[];
  neighbors: PackedLists;
  boughtTogether: PackedLists;
  popular: { idx: ArrayLike<number>; score: ArrayLike<number> };
  trending: { idx: ArrayLike<number>; score: ArrayLike<number> };
  popularByCategory: ReadonlyMap<string, { idx: ArrayLike<number>; score: ArrayLike<number> }>;
  meta?: Record<string, string | number>;
}

const HSET_CHUNK = 2_000;
const COMMANDS_PER_ROUND_TRIP = 16;

/** How far publishing has got: `written` of `total` per-item lists of `part`. */
export interface PublishProgress {
  part: 'neighbors' | 'boughtTogether';
  written: number;
  total: number;
}

async function writeListsHash(
  redis: Redis,
  key: string,
  itemIds: readonly string[],
  lists: PackedLists,
  report: (written: number) => void,
) {
  // Every list is encoded into one buffer up front; each field value is a view into it, not a copy.
  const packed = encodePackedLists(lists);
  let pipeline = redis.pipeline();
  let fields: (string | Buffer)[] = [];
  let written = 0;
  const addCommand = () => {
    if (fields.length > 0) pipeline.hset(key, ...(fields as [string, Buffer]));
    fields = [];
  };
  const roundTrip = async () => {
    const results = await pipeline.exec();
    for (const [error] of results ?? []) if (error) throw error;
    pipeline = redis.pipeline();
    report(written);
  };
  for (let item = 0; item < itemIds.length; item++) {
    const from = lists.ptr[item]!;
    const to = lists.ptr[item + 1]!;
    if (to === from) continue;
    fields.push(itemIds[item]!, packed.subarray(from * PACKED_ENTRY_BYTES, to * PACKED_ENTRY_BYTES));
    written++;
    if (fields.length >= HSET_CHUNK * 2) {
      addCommand();
      if (pipeline.length >= COMMANDS_PER_ROUND_TRIP) await roundTrip();
    }
  }
  addCommand();
  await roundTrip();
}

/**
 * Writes every part of a model under its versioned keys, the meta hash last, then switches `model:current` to it
 * in one Lua call. Readers therefore see either the old model or the complete new one. Returns the version that
 * was served before. `onProgress` is told after each round trip of list writes; an exception it throws aborts
 * the publish before the switch. `now` (epoch ms) is read at the switch: the publish time the grace period of
 * `deleteOldModelVersions` counts from.
 */
export async function publishModel(
  redis: Redis,
  keys: RedisKeys,
  model: ModelToPublish,
  onProgress?: (progress: PublishProgress) => void,
  now: () => number = Date.now,
): Promise<string | null> {
  const v = model.version;
  const listsWithEntries = (lists: PackedLists) => {
    let n = 0;
    for (let i = 0; i + 1 < lists.ptr.length; i++) if (lists.ptr[i + 1]! > lists.ptr[i]!) n++;
    return n;
  };
  await redis.del(...keys.modelVersionKeys(v));
  await redis.set(keys.modelItems(v), model.itemIds.join('\n'));
  await redis.set(keys.modelItemCategories(v), model.itemCategories.join('\n'));
  const neighborLists = listsWithEntries(model.neighbors);
  await writeListsHash(redis, keys.modelNeighbors(v), model.itemIds, model.neighbors, (written) =>
    onProgress?.({ part: 'neighbors', written, total: neighborLists }),
  );
  const togetherLists = listsWithEntries(model.boughtTogether);
  await writeListsHash(redis, keys.modelBoughtTogether(v), model.itemIds, model.boughtTogether, (written) =>
    onProgress?.({ part: 'boughtTogether', written, total: togetherLists }),
  );
  await redis.set(keys.modelPopular(v), encodeScored(model.popular.idx, model.popular.score));
  await redis.set(keys.modelTrending(v), encodeScored(model.trending.idx, model.trending.score));
  const byCategory: (string | Buffer)[] = [];
  for (const [category, list] of model.popularByCategory)
    byCategory.push(category, encodeScored(list.idx, list.score));
  if (byCategory.length > 0)
    await redis.hset(keys.modelPopularByCategory(v), ...(byCategory as [string, Buffer]));
  await redis.hset(keys.modelMeta(v), {
    version: v,
    algorithm: model.algorithm,
    builtAt: String(model.builtAtMs),
    items: String(model.itemIds.length),
    ...Object.fromEntries(Object.entries(model.meta ?? {}).map(([k, val]) => [k, String(val)])),
  });
  return redis.elevensPublishModel(keys.modelCurrent(), keys.modelVersions(), keys.modelMeta(v), v, now());
}

/** Deletes every key of a version that was never published (a failed build's partial writes). */
export async function deleteModelVersion(redis: Redis, keys: RedisKeys, version: string): Promise<void> {
  if ((await redis.get(keys.modelCurrent())) === version)
    throw new Error(`version ${version} is being served`);
  await redis.unlink(...keys.modelVersionKeys(version));
  await redis.zrem(keys.modelVersions(), version);
  await redis.zrem(keys.modelRetired(), version);
}

export interface ModelVersionInfo {
  version: string;
  state: 'current' | 'published' | 'retired';
  /** epoch ms it was published, or retired for retired versions */
  at: number;
  algorithm: string | null;
  items: number | null;
}

/** Published versions newest first (the current one marked), then retired ones, newest first. */
export async function listModelVersions(redis: Redis, keys: RedisKeys): Promise<ModelVersionInfo[]> {
  const [current, published, retired] = await Promise.all([
    redis.get(keys.modelCurrent()),
    redis.zrevrange(keys.modelVersions(), 0, -1, 'WITHSCORES'),
    redis.zrevrange(keys.modelRetired(), 0, -1, 'WITHSCORES'),
  ]);
  const rows: { version: string; state: ModelVersionInfo['state']; at: number }[] = [];
  for (let i = 0; i < published.length; i += 2)
    rows.push({
      version: published[i]!,
      state: published[i] === current ? 'current' : 'published',
      at: Number(published[i + 1]),
    });
  for (let i = 0; i < retired.length; i += 2)
    rows.push({ version: retired[i]!, state: 'retired', at: Number(retired[i + 1]) });
  const pipeline = redis.pipeline();
  for (const row of rows) pipeline.hmget(keys.modelMeta(row.version), 'algorithm', 'items');
  const metas = rows.length > 0 ? ((await pipeline.exec()) ?? []) : [];
  return rows.map((row, r) => {
    const [algorithm, items] = (metas[r]?.[1] ?? [null, null]) as (string | null)[];
    return {
      ...row,
      algorithm: algorithm ?? null,
      items: items === null || items === undefined ? null : Number(items),
    };
  });
}

export async function currentModelVersion(redis: Redis, keys: RedisKeys): Promise<string | null> {
  return redis.get(keys.modelCurrent());
}

export interface RollbackResult {
  retired: string;
  restored: string;
}

/**
 * Serves the newest published version older than the current one again; the current one is retired, at `now`
 * (epoch ms), which the grace period of `deleteOldModelVersions` counts from.
 */
export async function rollbackModel(
  redis: Redis,
  keys: RedisKeys,
  now: () => number = Date.now,
): Promise<RollbackResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await redis.get(keys.modelCurrent());
    if (!current) throw new Error('no model is served, nothing to roll back');
    const currentScore = await redis.zscore(keys.modelVersions(), current);
    const older = await redis.zrevrangebyscore(keys.modelVersions(), currentScore ?? '+inf', '-inf');
    const candidates = older.filter((v) => v !== current);
    let restored: string | null = null;
    for (const candidate of candidates) {
      const outcome = await redis.elevensRollbackModel(
        keys.modelCurrent(),
        keys.modelVersions(),
        keys.modelRetired(),
        keys.modelMeta(candidate),
        current,
        candidate,
        now(),
      );
      if (outcome === 1) restored = candidate;
      if (outcome !== -1) break;
    }
    if (restored) return { retired: current, restored };
    if (candidates.length === 0) throw new Error(`no earlier model version than ${current} to roll back to`);
  }
  throw new Error('the served model kept changing during rollback; try again');
}

/**
 * Deletes versions no reader should need any more: published versions other than the newest two (current and
 * its predecessor, kept for rollback) once they are older than the grace period, and retired versions once
 * they have been retired for the grace period. Readers that picked a version up just before a switch finish
 * their request well within the grace period.
 */
export async function deleteOldModelVersions(
  redis: Redis,
  keys: RedisKeys,
  graceMs: number,
  nowMs = Date.now(),
): Promise<string[]> {
  const current = await redis.get(keys.modelCurrent());
  const published = await redis.zrevrange(keys.modelVersions(), 0, -1, 'WITHSCORES');
  const doomed: string[] = [];
  for (let i = 0; i < published.length; i += 2) {
    const version = published[i]!;
    const publishedAt = Number(published[i + 1]);
    // The version published after this one replaced it at that time.
    const replacedAt = i === 0 ? nowMs : Number(published[i - 1]);
    if (i >= 4 && version !== current && replacedAt <= nowMs - graceMs && publishedAt < replacedAt)
      doomed.push(version);
  }
  const retired = await redis.zrangebyscore(keys.modelRetired(), '-inf', nowMs - graceMs);
  for (const version of retired) if (version !== current) doomed.push(version);
  for (const version of doomed) {
    await redis.unlink(...keys.modelVersionKeys(version));
    await redis.zrem(keys.modelVersions(), version);
    await redis.zrem(keys.modelRetired(), version);
  }
  return doomed;
}

/** The whole-model parts a server keeps in process for one version: small, read once per version. */
export interface ModelSnapshot {
  version: string;
  meta: Record<string, string>;
  itemIds: string[];
  itemIndex: Map<string, number>;
  itemCategories: string[];
  popular: ScoredIndexes;
  trending: ScoredIndexes;
  popularByCategory: Map<string, ScoredIndexes>;
}

export async function loadModelSnapshot(
  redis: Redis,
  keys: RedisKeys,
  version: string,
): Promise<ModelSnapshot | null> {
  const results = await redis
    .pipeline()
    .hgetall(keys.modelMeta(version))
    .get(keys.modelItems(version))
    .get(keys.modelItemCategories(version))
    .getBuffer(keys.modelPopular(version))
    .getBuffer(keys.modelTrending(version))
    .hgetallBuffer(keys.modelPopularByCategory(version))
    .exec();
  if (!results) return null;
  for (const [error] of results) if (error) throw error;
  const [meta, items, categories, popular, trending, byCategory] = results.map(([, value]) => value) as [
    Record<string, string>,
    string | null,
    string | null,
    Buffer | null,
    Buffer | null,
    Record<string, Buffer>,
  ];
  if (!meta || Object.keys(meta).length === 0 || items === null) return null;
  const itemIds = items.length > 0 ? items.split('\n') : [];
  return {
    version,
    meta,
    itemIds,
    itemIndex: new Map(itemIds.map((id, i) => [id, i])),
    itemCategories: categories ? categories.split('\n') : itemIds.map(() => ''),
    popular: decodeScored(popular ?? Buffer.alloc(0)),
    trending: decodeScored(trending ?? Buffer.alloc(0)),
    popularByCategory: new Map(Object.entries(byCategory ?? {}).map(([c, buf]) => [c, decodeScored(buf)])),
  };
}

/**
 * Every per-item list of one kind of a version, in CSR form: item i's entries are [ptr[i], ptr[i + 1]). A server
 * holds these for the version it serves (8 bytes per entry, 80 MB for 200,000 items × 50 neighbours), so a
 * request reads no list from Redis.
 */
export interface ModelLists {
  ptr: Uint32Array;
  idx: Uint32Array;
  score: Float32Array;
}

/** Item `item`'s list (views, no copy); undefined when it has none. */
export function listOf(lists: ModelLists, item: number): ScoredIndexes | undefined {
  const from = lists.ptr[item]!;
  const to = lists.ptr[item + 1]!;
  return from === to
    ? undefined
    : { idx: lists.idx.subarray(from, to), score: lists.score.subarray(from, to) };
}

/** Fields per HSCAN call: each reply holds about this many lists (400 bytes each for 50 neighbours). */
const SCAN_COUNT = 2_000;

/**
 * Reads a version's lists of one kind (`modelNeighbors` or `modelBoughtTogether`) with HSCAN, a bounded reply at a
 * time, so Redis never blocks on one huge reply; fields naming items outside `itemIndex` are skipped. The packed
 * values are turned into typed arrays once all have arrived, `yieldEvery` items at a time between event-loop
 * turns, so a serving process keeps answering while it loads.
 */
export async function loadModelLists(
  redis: Redis,
  key: string,
  itemIndex: ReadonlyMap<string, number>,
  yieldEvery = 20_000,
): Promise<ModelLists> {
  const packed: (Buffer | undefined)[] = new Array(itemIndex.size);
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscanBuffer(key, cursor, 'COUNT', SCAN_COUNT);
    cursor = next.toString();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const item = itemIndex.get(flat[i]!.toString());
      if (item !== undefined) packed[item] = flat[i + 1]!;
    }
  } while (cursor !== '0');
  const ptr = new Uint32Array(itemIndex.size + 1);
  for (let item = 0; item < itemIndex.size; item++)
    ptr[item + 1] = ptr[item]! + Math.floor((packed[item]?.length ?? 0) / PACKED_ENTRY_BYTES);
  const entries = ptr[itemIndex.size]!;
  const idx = new Uint32Array(entries);
  const score = new Float32Array(entries);
  for (let item = 0; item < itemIndex.size; item++) {
    const buffer = packed[item];
    if (buffer !== undefined) decodeScoredInto(buffer, idx, score, ptr[item]!, ptr[item + 1]!);
    packed[item] = undefined;
    if ((item + 1) % yieldEvery === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return { ptr, idx, score };
}
