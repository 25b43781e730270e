import { type ArmModel, armModel, type ExperimentArm } from '@elevens/domain';
import { entryCategoriesOf, itemIdTableOf, type ListLookup, type ScoredList } from '@elevens/recommender';
import {
  DEFAULT_MODEL_LINE,
  listOf,
  type ModelLine,
  type ModelLists,
  type ModelSnapshot,
  type ScoredIndexes,
} from '@elevens/redis-stores';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiThreadLink } from '../threads';
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

/** The model an experiment arm is answered from. */
export interface ArmServing {
  /** the arm's model; the default line's when the arm names none, or names one not held (yet) */
  snapshot: ServedSnapshot | null;
  /** the arm names a model that is not published (or not loaded yet): the default line's answers instead */
  modelFallback: boolean;
}

export interface ServedModel {
  /** The snapshot of the default line's served version, or null before its first build. */
  current(): ServedSnapshot | null;
  /** The model `arm` is served from (`armModel`): its version, its line's current version, or the default. */
  forArm(arm: Pick<ExperimentArm, 'algorithm' | 'modelVersion'> | undefined): ArmServing;
  /**
   * The version an answer in `arm` of `experiment` (null: none) would come from now: a cached answer from another
   * version is stale, one served by the fallback included once the arm's own model is held.
   */
  versionFor(experiment: string | null, arm: string | null): string | null;
  /** Lists of the given items in the snapshot's version (items without one are absent). */
  lists(
    kind: ListKind,
    snapshot: ServedSnapshot,
    itemIds: readonly string[],
  ): Promise<Map<string, ScoredIndexes>>;
  /** Checks the served versions and the live trending counters now; the poller does this periodically. */
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
 * A version's lists of one kind by item index: packed, as `recommend` reads the anchors' lists, and each list's
 * views, made on its first use and kept with the version (a typed-array view costs more to make than the look-up).
 */
function lookupOf(lists: ModelLists): ListLookup {
  const views: (ScoredIndexes | null | undefined)[] = new Array(lists.ptr.length - 1).fill(undefined);
  return {
    packed: lists,
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

async function loadVersion(
  line: ModelLine,
  version: string,
  thread: ApiThreadLink | undefined,
): Promise<LoadedVersion | null> {
  const snapshot = await line.loadSnapshot(version);
  if (!snapshot) return null;
  const listsOf = (kind: ListKind) =>
    thread
      ? thread.sharedLists(line.name, version, kind, () =>
          line.loadLists(version, kind, snapshot.itemIndex, { shared: true }),
        )
      : line.loadLists(version, kind, snapshot.itemIndex);
  const neighbors = await listsOf('neighbors');
  const boughtTogether = await listsOf('boughtTogether');
  // Deleted while its lists were read (a clean-up after a rollback): they may have come back empty.
  if (!(await line.holds(version))) return null;
  // Made here, before the version is served, rather than by its first request (tens of ms for a large model).
  entryCategoriesOf(snapshot, neighbors);
  itemIdTableOf(snapshot);
  return {
    ...snapshot,
    lists: { neighbors, boughtTogether },
    lookup: { neighbors: lookupOf(neighbors), boughtTogether: lookupOf(boughtTogether) },
  };
}

/** A followed line's versions in process: the one served and the one before it (a rollback needs no load). */
interface FollowedLine {
  loaded: LoadedVersion | null;
  previous: LoadedVersion | null;
}

/** What the experiments not yet ended name: model lines (by algorithm) and versions. */
function modelsNamed(app: FastifyInstance): { lines: Set<string>; versions: Set<string> } {
  const lines = new Set<string>();
  const versions = new Set<string>();
  // Registered after this plugin; until it is, no arm names anything.
  if (!app.hasDecorator('experiments')) return { lines, versions };
  for (const experiment of app.experiments.current().experiments)
    for (const arm of experiment.arms) {
      const model = armModel(arm);
      if (model?.kind === 'line') lines.add(model.line);
      if (model?.kind === 'version') versions.add(model.version);
    }
  return { lines, versions };
}

/** What requests read, replaced whole by each poll: the default line's snapshot and every other one held. */
interface ServedView {
  current: ServedSnapshot | null;
  lines: ReadonlyMap<string, ServedSnapshot>;
  versions: ReadonlyMap<string, ServedSnapshot>;
}

const EMPTY_VIEW: ServedView = { current: null, lines: new Map(), versions: new Map() };

const describeModel = (model: ArmModel) =>
  model.kind === 'line' ? `model line ${model.line}` : `model version ${model.version}`;

/**
 * Follows the default model line and every line and version an experiment not yet ended names (`armModel`; the
 * experiment set as last polled): when a line's pointer moves, the poll loads the new version whole — small
 * parts, then every neighbour and bought-together list — and only then serves it, in one assignment of the view
 * requests read: a request sees the old version or the complete new one of each line, never a mix. A line's
 * replaced version is kept, so a rollback to it is served at the next poll without a load; any older one is
 * garbage once the requests holding it end. A named line or version is loaded at the first poll after an
 * experiment names it and let go at the first poll after none does; a version held for two reasons is loaded
 * once. A version that cannot be loaded (Redis down, deleted meanwhile) leaves the old one served and is tried
 * again at the next poll; a line or version that cannot be read holds back none of the others. Each poll also
 * re-reads the live trending counters, so trending is at most one poll interval old and survives a Redis outage
 * as the last copy read.
 */
export const modelPlugin = fp(
  async (
    app: FastifyInstance,
    // `now`: the api's clock (app.ts), whose hour's live trending counters are blended in.
    options: { pollMs: number; thread?: ApiThreadLink; now?: () => number },
  ) => {
    const now = options.now ?? Date.now;
    const store = app.modelStore;
    const followed = new Map<string, FollowedLine>([[DEFAULT_MODEL_LINE, { loaded: null, previous: null }]]);
    // Versions experiments name, by version; null: not published (the arms fall back to the default line).
    let pinned = new Map<string, LoadedVersion | null>();
    let view: ServedView = EMPTY_VIEW;
    let missing = new Set<string>();

    /** `version` of `line`, from what is in process already when another line or pin holds it. */
    const obtain = async (line: ModelLine, version: string): Promise<LoadedVersion | null> => {
      for (const held of followed.values())
        for (const candidate of [held.loaded, held.previous])
          if (candidate?.version === version) return candidate;
      const pin = pinned.get(version);
      if (pin) return pin;
      const startedMs = Date.now();
      const loaded = await loadVersion(line, version, options.thread);
      if (loaded)
        app.log.info(
          {
            line: line.name,
            version,
            items: loaded.itemIds.length,
            listEntries: loaded.lists.neighbors.idx.length + loaded.lists.boughtTogether.idx.length,
            loadMs: Date.now() - startedMs,
          },
          'serving model version',
        );
      return loaded;
    };

    const follow = async (name: string, state: FollowedLine, version: string | null) => {
      if (version === null || version === state.loaded?.version) return;
      if (version === state.previous?.version) {
        // Rolled back: the version rolled back from is retired, so it is let go.
        state.loaded = state.previous;
        state.previous = null;
        app.log.info({ line: name, version }, 'serving model version again (kept in process)');
        return;
      }
      const next = await obtain(store.line(name), version);
      if (next) {
        state.previous = state.loaded;
        state.loaded = next;
      }
    };

    const refreshOnce = async () => {
      const nowMs = now();
      const hour = Math.floor(nowMs / HOUR_MS);
      const named = modelsNamed(app);
      for (const name of followed.keys())
        if (name !== DEFAULT_MODEL_LINE && !named.lines.has(name)) followed.delete(name);
      for (const name of named.lines)
        if (!followed.has(name)) followed.set(name, { loaded: null, previous: null });
      // A line or version that cannot be read (its cluster node down, say) keeps what is held of it and is tried
      // again at the next poll; the others are followed and served all the same.
      const tryEach = async (model: ArmModel, step: () => Promise<void>) => {
        try {
          await step();
        } catch (error) {
          app.log.warn({ err: error, model: describeModel(model) }, 'could not read the served model');
        }
      };
      const names = [...followed.keys()];
      const [thisHour, previousHour, versions] = await Promise.all([
        app.trending.topOfHour(hour, LIVE_TRENDING_DEPTH),
        app.trending.topOfHour(hour - 1, LIVE_TRENDING_DEPTH),
        Promise.allSettled(names.map((name) => store.line(name).current())),
      ]);
      for (const [i, name] of names.entries())
        await tryEach({ kind: 'line', line: name }, async () => {
          const read = versions[i]!;
          if (read.status === 'rejected') throw read.reason;
          await follow(name, followed.get(name)!, read.value);
        });

      const nextPinned = new Map<string, LoadedVersion | null>();
      for (const version of named.versions) {
        const held = pinned.get(version);
        if (held) {
          nextPinned.set(version, held);
          continue;
        }
        nextPinned.set(version, null);
        await tryEach({ kind: 'version', version }, async () => {
          const line = await store.lineOf(version);
          if (line !== null) nextPinned.set(version, await obtain(store.line(line), version));
        });
      }
      pinned = nextPinned;

      const nowMissing = new Set<string>();
      for (const [name, state] of followed)
        if (name !== DEFAULT_MODEL_LINE && !state.loaded)
          nowMissing.add(describeModel({ kind: 'line', line: name }));
      for (const [version, loaded] of pinned)
        if (!loaded) nowMissing.add(describeModel({ kind: 'version', version }));
      for (const model of nowMissing)
        if (!missing.has(model))
          app.log.warn(
            { model },
            'an experiment arm names a model not published: its users get the default model',
          );
      missing = nowMissing;

      // Each version held is blended with the live counters once, whatever number of lines and pins hold it.
      const blended = new Map<string, ServedSnapshot>();
      const serve = (loaded: LoadedVersion): ServedSnapshot => {
        let served = blended.get(loaded.version);
        if (!served) {
          served = {
            ...loaded,
            trending: blendTrending(loaded, thisHour, previousHour, (nowMs % HOUR_MS) / HOUR_MS),
          };
          blended.set(loaded.version, served);
        }
        return served;
      };
      const lines = new Map<string, ServedSnapshot>();
      for (const [name, state] of followed) if (state.loaded) lines.set(name, serve(state.loaded));
      const pins = new Map<string, ServedSnapshot>();
      for (const [version, loaded] of pinned) if (loaded) pins.set(version, serve(loaded));
      view = { current: lines.get(DEFAULT_MODEL_LINE) ?? null, lines, versions: pins };
      if (options.thread) {
        const held = new Set(pinned.keys());
        for (const state of followed.values())
          for (const version of [state.loaded, state.previous]) if (version) held.add(version.version);
        options.thread.holding([...held]);
      }
    };

    // One refresh at a time, each after the one before (a caller's and the poller's): two loads at once would
    // each take the other for the version they replace.
    let refreshing: Promise<void> = Promise.resolve();
    const refresh = () => {
      refreshing = refreshing.catch(() => {}).then(refreshOnce);
      return refreshing;
    };

    const model: ServedModel = {
      current: () => view.current,
      forArm(arm) {
        const named = arm === undefined ? null : armModel(arm);
        if (named === null) return { snapshot: view.current, modelFallback: false };
        const own = named.kind === 'line' ? view.lines.get(named.line) : view.versions.get(named.version);
        return own
          ? { snapshot: own, modelFallback: false }
          : { snapshot: view.current, modelFallback: true };
      },
      versionFor(experiment, armName) {
        const arm =
          experiment === null || !app.hasDecorator('experiments')
            ? undefined
            : app.experiments
                .current()
                .experiments.find((e) => e.id === experiment)
                ?.arms.find((a) => a.name === armName);
        return model.forArm(arm).snapshot?.version ?? null;
      },
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
