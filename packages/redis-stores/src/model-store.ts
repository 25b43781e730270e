import type { RedisClient } from './client';
import {
  decodeScored,
  decodeScoredInto,
  encodePackedLists,
  encodeScored,
  PACKED_ENTRY_BYTES,
  type ScoredIndexes,
} from './codec';
import type { RedisKeys } from './keys';
import { DEFAULT_MODEL_LINE, MODEL_LINE_PATTERN } from './keys/model';

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

/** The per-item lists a version holds: neighbours, or items bought together. */
export type ModelListKind = 'neighbors' | 'boughtTogether';

/** How far publishing has got: `written` of `total` per-item lists of `part`. */
export interface PublishProgress {
  part: ModelListKind;
  written: number;
  total: number;
}

export interface PublishOptions {
  /** told after each round trip of list writes; an exception it throws aborts the publish before the switch */
  onProgress?: (progress: PublishProgress) => void;
  /**
   * awaited once every part is written, right before the switch; an exception it throws aborts the publish (a
   * build checks here that it still holds its line)
   */
  beforeSwitch?: () => Promise<void>;
  /**
   * read when the publish starts, the time the abandon period of `deleteOldVersions` counts from, and at the
   * switch, the publish time its grace period counts from (epoch ms)
   */
  now?: () => number;
}

/**
 * How long after its publish started a version neither published nor retired is taken for one a killed build left
 * behind (`deleteOldVersions`). Publishing 1,000,000 items × 50 neighbours took 5.6–15.1 s (docs/model.md): an hour
 * is hundreds of times that, so a slow publish keeps its version, and a dead one's keys go at the first clean-up
 * after the hour.
 */
export const ABANDONED_PUBLISH_MS = 3_600_000;

export interface ModelVersionInfo {
  version: string;
  /** `publishing`: its publish started and has not switched (still running, or its build was killed) */
  state: 'current' | 'published' | 'retired' | 'publishing';
  /** epoch ms it was published, retired for retired versions, or its publish started for those publishing */
  at: number;
  algorithm: string | null;
  items: number | null;
}

export interface RollbackResult {
  retired: string;
  restored: string;
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

/**
 * The item table (and the categories aligned with it) is one text of lines, one per item. Ids are free text but
 * for NUL, so a line break or a backslash in one is escaped (`\n`, `\\`): an id holding a line break stays one
 * item instead of shifting the index of every item after it. The meta's `itemTable` says so; a version published
 * before holds its ids as they are.
 */
const ESCAPED_ITEM_TABLE = 'escaped';

function joinLines(texts: readonly string[]): string {
  if (!texts.some((text) => text.includes('\n') || text.includes('\\'))) return texts.join('\n');
  return texts.map((text) => text.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'))).join('\n');
}

function splitLines(text: string, escaped: boolean): string[] {
  const lines = text.split('\n');
  if (!escaped || !text.includes('\\')) return lines;
  return lines.map((line) =>
    line.includes('\\') ? line.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)) : line,
  );
}

const HSET_CHUNK = 2_000;
const COMMANDS_PER_ROUND_TRIP = 16;
/** Fields per HSCAN call: each reply holds about this many lists (400 bytes each for 50 neighbours). */
const SCAN_COUNT = 2_000;

/**
 * The models in Redis: one or more model lines (the default line, and named ones published side by side for
 * experiments), each a versioned model with its own pointer, history and rollback. It owns the model keys
 * (keys/model.ts), their formats (codec.ts) and the publish and rollback scripts. Every key of a line is in one
 * hash tag, so all of this works on a Redis Cluster as on one server.
 */
export class ModelStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** One line's operations; throws on a name that is not a line name (`MODEL_LINE_PATTERN`). */
  line(name: string = DEFAULT_MODEL_LINE): ModelLine {
    if (!MODEL_LINE_PATTERN.test(name))
      throw new Error(
        `${JSON.stringify(name)} is not a model line name (lowercase letters, digits, _ and -, 1-32 characters)`,
      );
    return new ModelLine(this.redis, this.keys, name);
  }

  /** The names of the lines ever published, sorted. */
  async lines(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.modelLines())).sort();
  }

  /** The line a version was published in, or null for a version never published (or deleted). */
  lineOf(version: string): Promise<string | null> {
    return this.redis.hget(this.keys.modelVersionLines(), version);
  }
}

/** One model line: its versions, the one served, publishing, rollback and retention. */
export class ModelLine {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    readonly name: string,
  ) {}

  /**
   * Writes every part of a model under its versioned keys, the meta hash last, then switches the line's pointer
   * to it in one Lua call, so readers see either the old model or the complete new one. Returns the version that
   * was served before. The version is registered to this line first (a version belongs to one line), then
   * recorded as publishing until the switch, so the keys of a build killed meanwhile are found and freed.
   */
  async publish(model: ModelToPublish, options: PublishOptions = {}): Promise<string | null> {
    const { redis, keys, name } = this;
    const v = model.version;
    const { onProgress, beforeSwitch, now = Date.now } = options;
    await redis.sadd(keys.modelLines(), name);
    if ((await redis.hsetnx(keys.modelVersionLines(), v, name)) === 0) {
      const owner = await redis.hget(keys.modelVersionLines(), v);
      if (owner !== name) throw new Error(`model version ${v} belongs to the line ${owner}`);
    }
    await redis.zadd(keys.modelPublishing(name), now(), v);
    const listsWithEntries = (lists: PackedLists) => {
      let n = 0;
      for (let i = 0; i + 1 < lists.ptr.length; i++) if (lists.ptr[i + 1]! > lists.ptr[i]!) n++;
      return n;
    };
    await redis.del(...keys.modelVersionKeys(v, name));
    await redis.set(keys.modelItems(v, name), joinLines(model.itemIds));
    await redis.set(keys.modelItemCategories(v, name), joinLines(model.itemCategories));
    const neighborLists = listsWithEntries(model.neighbors);
    await this.writeListsHash(keys.modelNeighbors(v, name), model.itemIds, model.neighbors, (written) =>
      onProgress?.({ part: 'neighbors', written, total: neighborLists }),
    );
    const togetherLists = listsWithEntries(model.boughtTogether);
    await this.writeListsHash(
      keys.modelBoughtTogether(v, name),
      model.itemIds,
      model.boughtTogether,
      (written) => onProgress?.({ part: 'boughtTogether', written, total: togetherLists }),
    );
    await redis.set(keys.modelPopular(v, name), encodeScored(model.popular.idx, model.popular.score));
    await redis.set(keys.modelTrending(v, name), encodeScored(model.trending.idx, model.trending.score));
    const byCategory: (string | Buffer)[] = [];
    for (const [category, list] of model.popularByCategory)
      byCategory.push(category, encodeScored(list.idx, list.score));
    if (byCategory.length > 0)
      await redis.hset(keys.modelPopularByCategory(v, name), ...(byCategory as [string, Buffer]));
    await redis.hset(keys.modelMeta(v, name), {
      version: v,
      line: name,
      algorithm: model.algorithm,
      builtAt: String(model.builtAtMs),
      items: String(model.itemIds.length),
      itemTable: ESCAPED_ITEM_TABLE,
      ...Object.fromEntries(Object.entries(model.meta ?? {}).map(([k, val]) => [k, String(val)])),
    });
    await beforeSwitch?.();
    // Refused when the version was freed meanwhile: by a later build of the line (`takeOver`: this publish's build
    // lost its hold on the line), or by a clean-up as abandoned (this publish outlived the abandon period).
    return redis.elevensPublishModel(
      keys.modelCurrent(name),
      keys.modelVersions(name),
      keys.modelMeta(v, name),
      keys.modelPublishing(name),
      v,
      now(),
    );
  }

  private async writeListsHash(
    key: string,
    itemIds: readonly string[],
    lists: PackedLists,
    report: (written: number) => void,
  ) {
    // Every list is encoded into one buffer up front; each field value is a view into it, not a copy.
    const packed = encodePackedLists(lists);
    let pipeline = this.redis.pipeline();
    let fields: (string | Buffer)[] = [];
    let written = 0;
    const addCommand = () => {
      if (fields.length > 0) pipeline.hset(key, ...(fields as [string, Buffer]));
      fields = [];
    };
    const roundTrip = async () => {
      const results = await pipeline.exec();
      for (const [error] of results ?? []) if (error) throw error;
      pipeline = this.redis.pipeline();
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

  /** The version readers serve, or null before the line's first publish. */
  current(): Promise<string | null> {
    return this.redis.get(this.keys.modelCurrent(this.name));
  }

  /**
   * Published versions newest first (the current one marked), then retired ones, then those being published (or
   * left so by a killed build), each newest first.
   */
  async versions(): Promise<ModelVersionInfo[]> {
    const { redis, keys, name } = this;
    const [current, published, retired, publishing] = await Promise.all([
      redis.get(keys.modelCurrent(name)),
      redis.zrevrange(keys.modelVersions(name), 0, -1, 'WITHSCORES'),
      redis.zrevrange(keys.modelRetired(name), 0, -1, 'WITHSCORES'),
      redis.zrevrange(keys.modelPublishing(name), 0, -1, 'WITHSCORES'),
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
    const listed = new Set(rows.map((row) => row.version));
    for (let i = 0; i < publishing.length; i += 2)
      if (!listed.has(publishing[i]!))
        rows.push({ version: publishing[i]!, state: 'publishing', at: Number(publishing[i + 1]) });
    const pipeline = redis.pipeline();
    for (const row of rows) pipeline.hmget(keys.modelMeta(row.version, name), 'algorithm', 'items');
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

  /**
   * Serves the newest published version older than the current one again; the current one is retired, at `now`
   * (epoch ms), which the grace period of `deleteOldVersions` counts from.
   */
  async rollback(now: () => number = Date.now): Promise<RollbackResult> {
    const { redis, keys, name } = this;
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await redis.get(keys.modelCurrent(name));
      if (!current) throw new Error(`no model is served in the line ${name}, nothing to roll back`);
      const currentScore = await redis.zscore(keys.modelVersions(name), current);
      const older = await redis.zrevrangebyscore(keys.modelVersions(name), currentScore ?? '+inf', '-inf');
      const candidates = older.filter((v) => v !== current);
      let restored: string | null = null;
      for (const candidate of candidates) {
        const outcome = await redis.elevensRollbackModel(
          keys.modelCurrent(name),
          keys.modelVersions(name),
          keys.modelRetired(name),
          keys.modelMeta(candidate, name),
          current,
          candidate,
          now(),
        );
        if (outcome === 1) restored = candidate;
        if (outcome !== -1) break;
      }
      if (restored) return { retired: current, restored };
      if (candidates.length === 0)
        throw new Error(`no earlier model version than ${current} to roll back to`);
    }
    throw new Error('the served model kept changing during rollback; try again');
  }

  /** Deletes every key of a version that is not served (a failed build's partial writes). */
  async deleteVersion(version: string): Promise<void> {
    if (!(await this.forget(version))) throw new Error(`version ${version} is being served`);
  }

  /**
   * Deletes a version unless it is served, checked in the same script (a rollback may have restored a version a
   * clean-up chose from an earlier read); false when it is served.
   */
  private async forget(version: string): Promise<boolean> {
    const { redis, keys, name } = this;
    const deleted = await redis.elevensDeleteModelVersion(
      keys.modelCurrent(name),
      keys.modelVersions(name),
      keys.modelRetired(name),
      keys.modelPublishing(name),
      ...keys.modelVersionKeys(version, name),
      version,
    );
    if (deleted === 0) return false;
    await redis.hdel(keys.modelVersionLines(), version);
    return true;
  }

  /**
   * Deletes versions no reader should need any more: published versions other than the newest two (current and
   * its predecessor, kept for rollback) once they are older than the grace period, retired versions once they
   * have been retired for the grace period, and versions whose publish started `abandonedAfterMs` ago or more
   * and never switched (a killed build's partial writes); never one in `keep` (the versions experiments name).
   * Readers that picked a version up just before a switch finish with it well within the grace period. A
   * version still being published must outlive the abandon period: its keys freed, its switch is refused (its
   * build fails rather than serving a partial model). A version served by the time it is reached (a rollback
   * since the line was read) is kept. The publishing entries of versions that did switch are forgotten.
   */
  async deleteOldVersions(options: {
    graceMs: number;
    abandonedAfterMs?: number;
    nowMs?: number;
    keep?: ReadonlySet<string>;
  }): Promise<string[]> {
    const { redis, keys, name } = this;
    const {
      graceMs,
      abandonedAfterMs = ABANDONED_PUBLISH_MS,
      nowMs = Date.now(),
      keep = new Set<string>(),
    } = options;
    // Read before the published and retired versions: a version switched meanwhile is then seen switched.
    const publishing = await redis.zrange(keys.modelPublishing(name), 0, -1, 'WITHSCORES');
    const current = await redis.get(keys.modelCurrent(name));
    const published = await redis.zrevrange(keys.modelVersions(name), 0, -1, 'WITHSCORES');
    const doomed: string[] = [];
    for (let i = 0; i < published.length; i += 2) {
      const version = published[i]!;
      const publishedAt = Number(published[i + 1]);
      // The version published after this one replaced it at that time.
      const replacedAt = i === 0 ? nowMs : Number(published[i - 1]);
      if (i >= 4 && version !== current && replacedAt <= nowMs - graceMs && publishedAt < replacedAt)
        doomed.push(version);
    }
    const retired = await redis.zrange(keys.modelRetired(name), 0, -1, 'WITHSCORES');
    for (let i = 0; i < retired.length; i += 2)
      if (retired[i] !== current && Number(retired[i + 1]) <= nowMs - graceMs) doomed.push(retired[i]!);
    const switched = new Set<string | null>([current]);
    for (const versionsAndScores of [published, retired])
      for (let i = 0; i < versionsAndScores.length; i += 2) switched.add(versionsAndScores[i]!);
    const publishedEntries: string[] = [];
    for (let i = 0; i < publishing.length; i += 2) {
      const version = publishing[i]!;
      if (switched.has(version)) publishedEntries.push(version);
      else if (Number(publishing[i + 1]) <= nowMs - abandonedAfterMs) doomed.push(version);
    }
    if (publishedEntries.length > 0) await redis.zrem(keys.modelPublishing(name), ...publishedEntries);
    const deleted: string[] = [];
    for (const version of doomed)
      if (!keep.has(version) && (await this.forget(version))) deleted.push(version);
    return deleted;
  }

  /**
   * Frees every version whose publish started and never switched, whatever its age: called by a build that has
   * just taken the line (one build of a line at a time), for which each is a dead build's, or one whose build lost
   * its hold on the line and may still be writing it. A freed version's switch is refused (publish-model.lua: it
   * is no longer being published), so a build that lost its hold never switches the line once its successor has
   * begun, however late its switch arrives. Returns the versions freed.
   */
  takeOver(): Promise<string[]> {
    // No grace period ever passes, and every publish is abandoned, its start on a clock ahead of ours too.
    return this.deleteOldVersions({
      graceMs: Number.POSITIVE_INFINITY,
      abandonedAfterMs: Number.NEGATIVE_INFINITY,
    });
  }

  /**
   * Whether a version is still whole: its meta is written last and deleted with every other key in one step
   * (delete-model-version.lua), so a reader that finds it after reading the rest read none of it deleted.
   */
  async holds(version: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.modelMeta(version, this.name))) === 1;
  }

  /** A version's small parts, or null when it is incomplete or gone. */
  async loadSnapshot(version: string): Promise<ModelSnapshot | null> {
    const { keys, name } = this;
    const results = await this.redis
      .pipeline()
      .hgetall(keys.modelMeta(version, name))
      .get(keys.modelItems(version, name))
      .get(keys.modelItemCategories(version, name))
      .getBuffer(keys.modelPopular(version, name))
      .getBuffer(keys.modelTrending(version, name))
      .hgetallBuffer(keys.modelPopularByCategory(version, name))
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
    const escaped = meta.itemTable === ESCAPED_ITEM_TABLE;
    const itemIds = items.length > 0 ? splitLines(items, escaped) : [];
    return {
      version,
      meta,
      itemIds,
      itemIndex: new Map(itemIds.map((id, i) => [id, i])),
      itemCategories: categories ? splitLines(categories, escaped) : itemIds.map(() => ''),
      popular: decodeScored(popular ?? Buffer.alloc(0)),
      trending: decodeScored(trending ?? Buffer.alloc(0)),
      popularByCategory: new Map(Object.entries(byCategory ?? {}).map(([c, buf]) => [c, decodeScored(buf)])),
    };
  }

  /**
   * Reads a version's lists of one kind with HSCAN, a bounded reply at a time, so Redis never blocks on one huge
   * reply; fields naming items outside `itemIndex` are skipped. The packed values are turned into typed arrays
   * once all have arrived, `yieldEvery` items at a time between event-loop turns, so a serving process keeps
   * answering while it loads. With `shared`, the arrays live in `SharedArrayBuffer`s, so a process's threads can
   * serve one copy (a typed array over one is posted to another thread without a copy).
   */
  async loadLists(
    version: string,
    kind: ModelListKind,
    itemIndex: ReadonlyMap<string, number>,
    { yieldEvery = 20_000, shared = false }: { yieldEvery?: number; shared?: boolean } = {},
  ): Promise<ModelLists> {
    const key =
      kind === 'neighbors'
        ? this.keys.modelNeighbors(version, this.name)
        : this.keys.modelBoughtTogether(version, this.name);
    const packed: (Buffer | undefined)[] = new Array(itemIndex.size);
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscanBuffer(key, cursor, 'COUNT', SCAN_COUNT);
      cursor = next.toString();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const item = itemIndex.get(flat[i]!.toString());
        if (item !== undefined) packed[item] = flat[i + 1]!;
      }
    } while (cursor !== '0');
    const bytes = (n: number) => (shared ? new SharedArrayBuffer(n * 4) : new ArrayBuffer(n * 4));
    const ptr = new Uint32Array(bytes(itemIndex.size + 1));
    for (let item = 0; item < itemIndex.size; item++)
      ptr[item + 1] = ptr[item]! + Math.floor((packed[item]?.length ?? 0) / PACKED_ENTRY_BYTES);
    const entries = ptr[itemIndex.size]!;
    const idx = new Uint32Array(bytes(entries));
    const score = new Float32Array(bytes(entries));
    for (let item = 0; item < itemIndex.size; item++) {
      const buffer = packed[item];
      if (buffer !== undefined) decodeScoredInto(buffer, idx, score, ptr[item]!, ptr[item + 1]!);
      packed[item] = undefined;
      if ((item + 1) % yieldEvery === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return { ptr, idx, score };
  }
}

/** The default line's `publish`, for fixtures and benchmarks that publish one model. */
export const publishModel = (
  redis: RedisClient,
  keys: RedisKeys,
  model: ModelToPublish,
  onProgress?: (progress: PublishProgress) => void,
  now: () => number = Date.now,
): Promise<string | null> =>
  new ModelStore(redis, keys).line().publish(model, { ...(onProgress ? { onProgress } : {}), now });

/** The default line's `rollback`. */
export const rollbackModel = (
  redis: RedisClient,
  keys: RedisKeys,
  now: () => number = Date.now,
): Promise<RollbackResult> => new ModelStore(redis, keys).line().rollback(now);

/** The default line's `current`. */
export const currentModelVersion = (redis: RedisClient, keys: RedisKeys): Promise<string | null> =>
  new ModelStore(redis, keys).line().current();

/** The default line's `loadSnapshot`. */
export const loadModelSnapshot = (
  redis: RedisClient,
  keys: RedisKeys,
  version: string,
): Promise<ModelSnapshot | null> => new ModelStore(redis, keys).line().loadSnapshot(version);
