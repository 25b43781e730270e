import { decodeScored, loadModelSnapshot, type ModelSnapshot, type ScoredIndexes } from '@elevens/cache';
import type { ScoredList } from '@elevens/recommender';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { LruCache } from '../lru';
import { pollEvery } from './poll';

declare module 'fastify' {
  interface FastifyInstance {
    model: ServedModel;
  }
}

/** A served version's in-process parts; `trending` blends the build's list with the live hourly counters. */
export interface ServedSnapshot extends Omit<ModelSnapshot, 'trending'> {
  trending: ScoredList;
}

/** Per-item packed lists a version holds: neighbours, or items bought together. */
export type ListKind = 'neighbors' | 'boughtTogether';

export interface CachedLists {
  found: Map<string, ScoredIndexes>;
  /** ids not in the in-process cache: fetch them with `listsKey` and hand the buffers to `store` */
  missing: string[];
}

export interface ServedModel {
  /** The snapshot of the served version, or null before the first build. */
  current(): ServedSnapshot | null;
  /** The lists of these items already in process (empty lists count as found-and-absent). */
  cached(kind: ListKind, snapshot: ServedSnapshot, itemIds: readonly string[]): CachedLists;
  /** The Redis hash holding a version's lists of one kind. */
  listsKey(kind: ListKind, snapshot: ServedSnapshot): string;
  /** Decodes and caches fetched lists; adds the non-empty ones to `into`. */
  store(
    kind: ListKind,
    snapshot: ServedSnapshot,
    itemIds: readonly string[],
    buffers: readonly (Buffer | null)[],
    into: Map<string, ScoredIndexes>,
  ): void;
  /** Lists of the given items in the snapshot's version (missing items are absent): cache, then one HMGET. */
  lists(
    kind: ListKind,
    snapshot: ServedSnapshot,
    itemIds: readonly string[],
  ): Promise<Map<string, ScoredIndexes>>;
  /** Checks the served version and the live trending counters now; the poller does this periodically. */
  refresh(): Promise<void>;
}

const EMPTY = decodeScored(Buffer.alloc(0));
/** How many items of each live hourly counter are read; the blended trending list keeps as many. */
const LIVE_TRENDING_DEPTH = 500;
const HOUR_MS = 3_600_000;
/** The build's list counts half as much as the live counts: it is hours old, they are current. */
const BUILT_TRENDING_WEIGHT = 0.5;

/**
 * Blends the build's trending list with the live hourly counters ingest writes: this hour's counts plus the
 * previous hour's (faded as this hour fills) scaled to a maximum of 1, plus the build's list scaled to a maximum
 * of BUILT_TRENDING_WEIGHT. Items the model does not know are left out (serving refers to items by index).
 */
export function blendTrending(
  snapshot: Pick<ModelSnapshot, 'itemIndex' | 'trending'>,
  thisHour: readonly string[],
  previousHour: readonly string[],
  hourFraction: number,
): ScoredList {
  const live = new Map<number, number>();
  const addCounts = (flat: readonly string[], weight: number) => {
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const idx = snapshot.itemIndex.get(flat[i]!);
      if (idx !== undefined) live.set(idx, (live.get(idx) ?? 0) + weight * Number(flat[i + 1]));
    }
  };
  addCounts(thisHour, 1);
  addCounts(previousHour, 1 - hourFraction);
  let liveMax = 0;
  for (const count of live.values()) liveMax = Math.max(liveMax, count);
  const blended = new Map<number, number>();
  for (const [idx, count] of live) if (count > 0) blended.set(idx, count / liveMax);
  const built = snapshot.trending;
  const builtMax = built.score.length > 0 ? built.score[0]! : 0;
  for (let k = 0; k < built.idx.length; k++) {
    const share = builtMax > 0 ? (BUILT_TRENDING_WEIGHT * built.score[k]!) / builtMax : 0;
    blended.set(built.idx[k]!, (blended.get(built.idx[k]!) ?? 0) + share);
  }
  const ranked = [...blended.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const depth = Math.min(ranked.length, Math.max(LIVE_TRENDING_DEPTH, built.idx.length));
  const idx = new Uint32Array(depth);
  const score = new Float64Array(depth);
  for (let k = 0; k < depth; k++) {
    idx[k] = ranked[k]![0];
    score[k] = ranked[k]![1];
  }
  return { idx, score };
}

/**
 * Follows `model:current`: when the pointer moves, loads the new version's small parts (item table, popular,
 * trending) into memory once, so a request reads only the lists it needs, through an LRU cache. Each poll also
 * re-reads the live trending counters, so trending is at most one poll interval old and survives a Redis outage
 * as the last copy read.
 */
export const modelPlugin = fp(
  async (app: FastifyInstance, options: { pollMs: number; cacheEntries: number }) => {
    let loaded: ModelSnapshot | null = null;
    let served: ServedSnapshot | null = null;
    // Lists of the loaded version only, by item id (no per-lookup key building); a new version starts empty.
    const newCaches = () => ({
      neighbors: new LruCache<string, ScoredIndexes>(options.cacheEntries),
      boughtTogether: new LruCache<string, ScoredIndexes>(Math.ceil(options.cacheEntries / 4)),
    });
    let caches = newCaches();
    const cacheOf = (kind: ListKind, snapshot: ServedSnapshot) =>
      snapshot.version === loaded?.version ? caches[kind] : null;

    const refresh = async () => {
      const nowMs = Date.now();
      const hour = Math.floor(nowMs / HOUR_MS);
      const [version, thisHour, previousHour] = await Promise.all([
        app.redis.get(app.keys.modelCurrent()),
        app.redis.zrevrange(app.keys.trendingHour(hour), 0, LIVE_TRENDING_DEPTH - 1, 'WITHSCORES'),
        app.redis.zrevrange(app.keys.trendingHour(hour - 1), 0, LIVE_TRENDING_DEPTH - 1, 'WITHSCORES'),
      ]);
      if (version !== null && version !== loaded?.version) {
        const snapshot = await loadModelSnapshot(app.redis, app.keys, version);
        if (snapshot) {
          loaded = snapshot;
          caches = newCaches();
          app.log.info({ version, items: snapshot.itemIds.length }, 'serving model version');
        }
      }
      if (loaded)
        served = {
          ...loaded,
          trending: blendTrending(loaded, thisHour, previousHour, (nowMs % HOUR_MS) / HOUR_MS),
        };
    };

    const model: ServedModel = {
      current: () => served,
      refresh,
      listsKey: (kind, snapshot) =>
        kind === 'neighbors'
          ? app.keys.modelNeighbors(snapshot.version)
          : app.keys.modelBoughtTogether(snapshot.version),
      cached(kind, snapshot, itemIds) {
        const cache = cacheOf(kind, snapshot);
        const found = new Map<string, ScoredIndexes>();
        const missing: string[] = [];
        for (const id of itemIds) {
          const hit = cache?.get(id);
          if (hit === undefined) missing.push(id);
          else if (hit.idx.length > 0) found.set(id, hit);
        }
        return { found, missing };
      },
      store(kind, snapshot, itemIds, buffers, into) {
        const cache = cacheOf(kind, snapshot);
        itemIds.forEach((id, i) => {
          const buffer = buffers[i];
          const list = buffer ? decodeScored(buffer) : EMPTY;
          cache?.set(id, list);
          if (list.idx.length > 0) into.set(id, list);
        });
      },
      async lists(kind, snapshot, itemIds) {
        const { found, missing } = model.cached(kind, snapshot, itemIds);
        if (missing.length > 0) {
          const buffers = await app.redis.hmgetBuffer(model.listsKey(kind, snapshot), ...missing);
          model.store(kind, snapshot, missing, buffers, found);
        }
        return found;
      },
    };
    app.decorate('model', model);

    await pollEvery(app, options.pollMs, 'could not read the served model', refresh);
  },
  { name: 'elevens-model', dependencies: ['elevens-cache'] },
);
