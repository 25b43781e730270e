import type { ListLookup, ScoredList } from '@elevens/recommender';
import {
  listOf,
  loadModelLists,
  loadModelSnapshot,
  type ModelLists,
  type ModelSnapshot,
  type ScoredIndexes,
} from '@elevens/redis-stores';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { pollEvery } from './poll';

declare module 'fastify' {
  interface FastifyInstance {
    model: ServedModel;
  }
}

/** Per-item packed lists a version holds: neighbours, or items bought together. */
export type ListKind = 'neighbors' | 'boughtTogether';

/**
 * A served version, whole, in process: its small parts, every per-item list, and `trending` blended with the
 * live hourly counters. Immutable once served; the next version is a new object.
 */
export interface ServedSnapshot extends Omit<ModelSnapshot, 'trending'> {
  trending: ScoredList;
  lists: Record<ListKind, ModelLists>;
  /** the lists of each kind by item (`recommend`'s `neighbors` reads them) */
  lookup: Record<ListKind, ListLookup>;
}

export interface ServedModel {
  /** The snapshot of the served version, or null before the first build. */
  current(): ServedSnapshot | null;
  /** Lists of the given items in the snapshot's version (items without one are absent). */
  lists(
    kind: ListKind,
    snapshot: ServedSnapshot,
    itemIds: readonly string[],
  ): Promise<Map<string, ScoredIndexes>>;
  /** Checks the served version and the live trending counters now; the poller does this periodically. */
  refresh(): Promise<void>;
}

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

/** A version as loaded, before its trending list is blended: the lists and their lookups made once. */
type LoadedVersion = Omit<ServedSnapshot, 'trending'> & Pick<ModelSnapshot, 'trending'>;

/**
 * A version's lists of one kind by item index, each list's views made on its first use and kept with the version
 * (a typed-array view costs more to make than the look-up).
 */
function lookupOf(lists: ModelLists): ListLookup {
  const views: (ScoredIndexes | null | undefined)[] = new Array(lists.ptr.length - 1).fill(undefined);
  return {
    get(_itemId, item) {
      let view = views[item];
      if (view === undefined) {
        view = listOf(lists, item) ?? null;
        views[item] = view;
      }
      return view ?? undefined;
    },
  };
}

async function loadVersion(app: FastifyInstance, version: string): Promise<LoadedVersion | null> {
  const snapshot = await loadModelSnapshot(app.redis, app.keys, version);
  if (!snapshot) return null;
  const neighbors = await loadModelLists(app.redis, app.keys.modelNeighbors(version), snapshot.itemIndex);
  const boughtTogether = await loadModelLists(
    app.redis,
    app.keys.modelBoughtTogether(version),
    snapshot.itemIndex,
  );
  return {
    ...snapshot,
    lists: { neighbors, boughtTogether },
    lookup: { neighbors: lookupOf(neighbors), boughtTogether: lookupOf(boughtTogether) },
  };
}

/**
 * Follows `model:current`: when the pointer moves to a new version, the poll loads it whole — small parts, then
 * every neighbour and bought-together list — and only then serves it, in one assignment: a request sees the old
 * version or the complete new one, never a mix. The version it replaces is kept, so a rollback to it is served at
 * the next poll without a load; any older one is garbage once the requests holding it end (at most two versions
 * in process, three while a third loads). A version that cannot be loaded (Redis down, deleted meanwhile) leaves
 * the old one served and is tried again at the next poll. Each poll also re-reads the live trending counters, so
 * trending is at most one poll interval old and survives a Redis outage as the last copy read.
 */
export const modelPlugin = fp(
  async (app: FastifyInstance, options: { pollMs: number }) => {
    let loaded: LoadedVersion | null = null;
    // The version served before `loaded`, kept whole: a rollback (to it) is then served at the next poll, no load.
    let previous: LoadedVersion | null = null;
    let served: ServedSnapshot | null = null;

    const refreshOnce = async () => {
      const nowMs = Date.now();
      const hour = Math.floor(nowMs / HOUR_MS);
      const [version, thisHour, previousHour] = await Promise.all([
        app.redis.get(app.keys.modelCurrent()),
        app.redis.zrevrange(app.keys.trendingHour(hour), 0, LIVE_TRENDING_DEPTH - 1, 'WITHSCORES'),
        app.redis.zrevrange(app.keys.trendingHour(hour - 1), 0, LIVE_TRENDING_DEPTH - 1, 'WITHSCORES'),
      ]);
      if (version !== null && version === previous?.version) {
        // Rolled back: the version rolled back from is retired, so it is let go.
        loaded = previous;
        previous = null;
        app.log.info({ version }, 'serving model version again (kept in process)');
      } else if (version !== null && version !== loaded?.version) {
        const next = await loadVersion(app, version);
        if (next) {
          previous = loaded;
          loaded = next;
          app.log.info(
            {
              version,
              items: next.itemIds.length,
              listEntries: next.lists.neighbors.idx.length + next.lists.boughtTogether.idx.length,
              loadMs: Date.now() - nowMs,
            },
            'serving model version',
          );
        }
      }
      if (loaded)
        served = {
          ...loaded,
          trending: blendTrending(loaded, thisHour, previousHour, (nowMs % HOUR_MS) / HOUR_MS),
        };
    };

    // One refresh at a time, each after the one before (a caller's and the poller's): two loads at once would
    // each take the other for the version they replace.
    let refreshing: Promise<void> = Promise.resolve();
    const refresh = () => {
      refreshing = refreshing.catch(() => {}).then(refreshOnce);
      return refreshing;
    };

    const model: ServedModel = {
      current: () => served,
      refresh,
      async lists(kind, snapshot, itemIds) {
        const found = new Map<string, ScoredIndexes>();
        for (const id of itemIds) {
          const item = snapshot.itemIndex.get(id);
          const list = item === undefined ? undefined : snapshot.lookup[kind].get(id, item);
          if (list) found.set(id, list as ScoredIndexes);
        }
        return found;
      },
    };
    app.decorate('model', model);

    // A whole model takes seconds to load on a busy machine: past Fastify's plugin timeout, so before ready.
    await pollEvery(app, options.pollMs, 'could not read the served model', refresh, { firstRunBy: 'ready' });
  },
  { name: 'elevens-model', dependencies: ['elevens-cache'] },
);
