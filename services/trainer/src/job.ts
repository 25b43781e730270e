import { randomBytes } from 'node:crypto';
import { InteractionsBuilder, sortedNumbering } from '@elevens/algorithms';
import {
  endRunsOfHeldLine,
  failUnfinishedModelRuns,
  finishModelRun,
  holdModelLine,
  listExperiments,
  listItemCategories,
  type ModelLineHold,
  newestEventMs,
  type Pool,
  startModelRun,
} from '@elevens/db';
import { armModel } from '@elevens/domain';
import {
  type ModelLine,
  ModelStore,
  type PublishProgress,
  type RedisClient,
  type RedisKeys,
} from '@elevens/redis-stores';
import type { BuildAlgorithm, BuildConfig } from './config';
import { IdIndex, streamEventsInto } from './event-source';
import { assembleModel, withCatalogItems } from './model';
import { startPeakRss } from './peak-rss';
import { type BuildGate, createQualityGate } from './quality-gate';
import { builderOptionsFrom, modelSettingsFrom } from './settings';

/**
 * Progress of a build, for a progress bar: phases start and end (a phase that failed does not end), events stream
 * in, model parts are written.
 */
export type BuildProgress =
  | { kind: 'phase-start'; phase: string }
  | { kind: 'phase-end'; phase: string; seconds: number }
  | { kind: 'events'; events: number }
  | ({ kind: 'publish' } & PublishProgress);

export interface BuildDeps {
  pool: Pool;
  redis: RedisClient;
  keys: RedisKeys;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** progress reports; an exception it throws fails the build like any other (tests inject crashes with it) */
  onProgress?: (progress: BuildProgress) => void;
  /** runs between assembling and publishing; a failing verdict records the run as rejected, nothing is published */
  gate?: BuildGate;
  /**
   * aborted (with what stopped it as the reason, `'SIGTERM'`), the build stops at its next phase, or between two
   * round trips of publishing, before its switch: it fails with BuildInterrupted, recorded as its run's error, and
   * frees its partly written version. Once switched it finishes, its clean-up skipped.
   */
  signal?: AbortSignal;
}

export interface BuildReport {
  version: string;
  /** the model line it was published to (BUILD_MODEL) */
  model: string;
  status: 'published' | 'rejected';
  algorithm: BuildAlgorithm;
  events: number;
  users: number;
  items: number;
  phases: Record<string, number>;
  /** wall-clock seconds of the whole run, recording included */
  seconds: number;
  peakRssBytes: number;
  previousVersion: string | null;
  deletedVersions: string[];
  metrics: Record<string, unknown> | null;
  /** the gate's verdict: why a rejected model was refused (as the run's error records it), or why one passed */
  reason: string | null;
}

export const newModelVersion = (nowMs = Date.now()) =>
  `${new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;

/**
 * How long after its start a run still `running` is taken for one whose build died (killed, out of memory, a
 * deploy) before recording its outcome, in any line: a line not built again, or a run recorded without its line or
 * key prefix, has no build that takes its line over (which ends its runs at any age). bench:build builds
 * 10,000,000 events in under a minute (docs/benchmarks.md): six hours is far beyond any build still alive, and one
 * that did outlive it records its own outcome over the mark when it ends.
 */
export const UNFINISHED_RUN_MS = 6 * 3_600_000;

/**
 * The versions experiments not yet ended name (`modelVersion` arms): retention keeps them, so an experiment's
 * model outlives the builds after it.
 */
async function versionsNamedByExperiments(pool: Pool, nowMs: number): Promise<Set<string>> {
  const named = new Set<string>();
  for (const experiment of await listExperiments(pool)) {
    if (experiment.untilMs !== null && experiment.untilMs <= nowMs) continue;
    for (const arm of experiment.arms) {
      const model = armModel(arm);
      if (model?.kind === 'version') named.add(model.version);
    }
  }
  return named;
}

/** Another build of the model line is running: this one did not start, and recorded no run. */
export class ModelLineBusy extends Error {
  override name = 'ModelLineBusy';
  constructor(readonly model: string) {
    super(
      `another build of model line ${model} is running (elevens model list shows its run): this build did not start`,
    );
  }
}

/** The build was stopped through `BuildDeps.signal` (a signal to the process): it published nothing. */
export class BuildInterrupted extends Error {
  override name = 'BuildInterrupted';
  constructor(reason: unknown) {
    super(`interrupted by ${reason instanceof Error ? reason.message : String(reason)}`);
  }
}

/**
 * The build lost its hold on its line (its Postgres session ended) before it switched the line: another build of the
 * line may have started, so this one published nothing.
 */
export class ModelLineHoldLost extends Error {
  override name = 'ModelLineHoldLost';
  constructor(model: string, why: string, refused: Error | undefined) {
    super(
      `lost its hold on model line ${model}: ${why}; another build of the line may have started, so this one published nothing` +
        (refused === undefined ? '' : ` (${refused.message})`),
    );
  }
}

/**
 * One build: stream the window's events from Postgres, assemble the model, let the gate (if any) judge it, publish
 * it as a new version of the model line BUILD_MODEL, record the run. A failure at any point leaves the served
 * model as it was: the pointer only moves in the last step of publishing, and a failed run's partly written
 * version is deleted. A build killed outright is recorded as failed by the next build of its line (by any build
 * six hours on, for a line not built again), and its partly written version freed by it. One build of a line runs at a time: while another holds it,
 * this one throws ModelLineBusy before doing anything, and one that lost its hold meanwhile fails before publishing.
 */
export async function runBuild(deps: BuildDeps, config: BuildConfig): Promise<BuildReport> {
  const line = new ModelStore(deps.redis, deps.keys).line(config.BUILD_MODEL);
  const hold = await holdModelLine(deps.pool, deps.keys.modelCurrent(line.name));
  if (hold === null) throw new ModelLineBusy(line.name);
  try {
    return await buildLine(deps, config, line, hold);
  } finally {
    await hold.release();
  }
}

async function buildLine(
  deps: BuildDeps,
  config: BuildConfig,
  line: ModelLine,
  hold: ModelLineHold,
): Promise<BuildReport> {
  const { pool, log } = deps;
  /**
   * Why this build no longer holds its line, as the error it fails with, or null while it does. The hold's
   * connection idles through the build: lost (a Postgres restart, a proxy closing it), the lock went with it and
   * another build of the line may be running, so this one changes nothing in the line.
   */
  const lostHold = async (refused?: Error): Promise<ModelLineHoldLost | null> => {
    const why = await hold.lost();
    return why === null ? null : new ModelLineHoldLost(line.name, why, refused);
  };
  const started = performance.now();
  const version = newModelVersion();
  const settings = modelSettingsFrom(config);
  const phases: Record<string, number> = {};
  const inputCounts: Record<string, number> = {};
  const unfinished = await failUnfinishedModelRuns(
    pool,
    Date.now() - UNFINISHED_RUN_MS,
    'the build did not finish: it stopped (killed, out of memory, a deploy) without recording an outcome',
  );
  if (unfinished.length > 0) log('unfinished builds recorded as failed', { versions: unfinished });
  await startModelRun(pool, {
    version,
    algorithm: settings.algorithm,
    params: { ...settings, model: line.name, config: paramsOf(config) },
    modelLine: line.name,
    keyPrefix: deps.keys.prefix,
  });
  log('build started', { version, model: line.name, algorithm: settings.algorithm });
  // Started once nothing before the try below can throw: every outcome after it ends the measure.
  const peakRss = startPeakRss();
  const stopIfInterrupted = () => {
    if (deps.signal?.aborted) throw new BuildInterrupted(deps.signal.reason);
  };
  /** A phase: its time is recorded whatever its outcome; only one that succeeded reports its end. */
  const timed = async <T>(phase: string, fn: () => Promise<T> | T): Promise<T> => {
    stopIfInterrupted();
    deps.onProgress?.({ kind: 'phase-start', phase });
    const start = performance.now();
    let result: T;
    try {
      result = await fn();
    } finally {
      phases[phase] = (performance.now() - start) / 1000;
      peakRss.sample();
    }
    deps.onProgress?.({ kind: 'phase-end', phase, seconds: phases[phase]! });
    return result;
  };
  /** A clean-up phase: one that fails is logged and leaves the versions for the next build's. */
  const freeOldVersions = async (phase: string, deleteOld: () => Promise<string[]>): Promise<string[]> => {
    try {
      return await timed(phase, deleteOld);
    } catch (error) {
      log('old model versions not deleted', { version, error: (error as Error).message });
      return [];
    }
  };
  let publishing = false;
  try {
    // Taking the line frees what earlier builds of it left publishing, which also fences off one that lost its
    // hold and may still be writing: its switch is refused from here on, however late it arrives. No other build
    // of the line publishes while this one holds it, so the clean-ups below keep the store's abandon period.
    const freedAtStart = await line.takeOver();
    if (freedAtStart.length > 0)
      log('versions earlier builds left unpublished freed', { version, versions: freedAtStart });
    const earlierRuns = await endRunsOfHeldLine(pool, {
      modelLine: line.name,
      keyPrefix: deps.keys.prefix,
      ownVersion: version,
      switchedVersions: (await line.versions())
        .filter((switched) => switched.state !== 'publishing')
        .map((switched) => switched.version),
      error: `interrupted: build ${version} took the line over; this build had stopped without recording an outcome (killed, out of memory, a deploy) or lost its hold on the line`,
    });
    if (earlierRuns.failed.length + earlierRuns.published.length > 0)
      log('runs of earlier builds of the line recorded as ended', { version, ...earlierRuns });
    const newest = await newestEventMs(pool);
    // "Now" is the newest event (imported history builds too), but never later than the clock: ingest takes event
    // times up to a day ahead, and one client clock running ahead would move the trending hours past every event.
    const referenceTimeMs = Math.min(newest ?? Number.POSITIVE_INFINITY, Date.now());
    const window = { fromMs: referenceTimeMs - config.BUILD_WINDOW, toMs: referenceTimeMs };
    const builder = new InteractionsBuilder(builderOptionsFrom(config, referenceTimeMs));
    const items = new IdIndex();
    const source = await timed('read', () =>
      streamEventsInto(pool, window, builder, items, (events) =>
        deps.onProgress?.({ kind: 'events', events }),
      ),
    );
    Object.assign(inputCounts, { events: source.events, users: source.users.size, items: items.size });
    const itemNumbering = sortedNumbering(items.ids);
    const userNumbering = sortedNumbering(source.users.ids);
    builder.renumber(userNumbering.index, itemNumbering.index);
    const itemIds = itemNumbering.ids;
    const categoryOfItem = await timed(
      'catalog',
      async () => new Map((await listItemCategories(pool)).map((r) => [r.itemId, r.categoryId ?? ''])),
    );
    const categories = itemIds.map((id) => categoryOfItem.get(id) ?? '');
    const input = await timed('prepare', () => builder.build(source.users.size, items.size));
    inputCounts.interactions = input.interactions.userPtr[input.interactions.numUsers]!;
    inputCounts.baskets = input.baskets.ptr.length - 1;
    const assembled = await timed('model', () =>
      assembleModel(input, itemIds, categories, settings, version, Date.now()),
    );
    Object.assign(phases, assembled.phases);
    inputCounts.neighborPairs = assembled.neighbors.idx.length;
    const gate = deps.gate ?? createQualityGate(deps, config);
    const verdict = await timed('gate', () =>
      gate({
        version,
        window,
        model: assembled,
        input,
        settings,
        events: builder.events(),
        userIds: userNumbering.ids,
      }),
    );
    const base = {
      version,
      model: line.name,
      algorithm: settings.algorithm,
      events: source.events,
      users: source.users.size,
      items: items.size,
      phases,
      metrics: verdict?.metrics ?? null,
    };
    const reason = verdict && !verdict.pass ? (verdict.reason ?? 'rejected by the quality gate') : null;
    const elapsed = () => (performance.now() - started) / 1000;
    if (reason !== null) {
      const report: BuildReport = {
        ...base,
        status: 'rejected',
        seconds: elapsed(),
        peakRssBytes: peakRss.finish(),
        previousVersion: null,
        deletedVersions: freedAtStart,
        reason,
      };
      await finishModelRun(pool, version, {
        status: 'rejected',
        inputCounts,
        phaseDurations: phases,
        peakRssBytes: report.peakRssBytes,
        metrics: verdict?.metrics ?? null,
        error: reason,
      });
      log('build rejected', { ...report });
      return report;
    }
    const lostBeforeCleanup = await lostHold();
    if (lostBeforeCleanup !== null) throw lostBeforeCleanup;
    const namedByExperiments = () => versionsNamedByExperiments(pool, Date.now());
    // What retention already frees goes before the new version is written: a Redis sized for the served version,
    // its predecessor and the one being published has no room for a fourth (a version retired by a rollback, one a
    // killed build left), and a publish that fails for want of memory never reaches the clean-up after it.
    const freedBeforePublish = await freeOldVersions('cleanupBeforePublish', async () =>
      line.deleteOldVersions({ graceMs: config.BUILD_VERSION_GRACE, keep: await namedByExperiments() }),
    );
    // What the switch replaces, with the line held (only a rollback moves it meanwhile): told by the switch itself,
    // unless its answer is lost.
    const servedBefore = await line.current();
    publishing = true;
    const previousVersion = await timed('publish', () =>
      line
        .publish(
          {
            // Pins and boosts resolve against the served items: a product no one has seen yet is one of them.
            ...withCatalogItems(assembled.model, categoryOfItem),
            meta: {
              events: source.events,
              users: source.users.size,
              windowFrom: window.fromMs,
              windowTo: window.toMs,
            },
          },
          {
            onProgress: (progress) => {
              stopIfInterrupted();
              deps.onProgress?.({ kind: 'publish', ...progress });
            },
            // Checked again after the long writes, right before the switch; one lost after this check is fenced
            // off by the successor's takeOver.
            beforeSwitch: async () => {
              stopIfInterrupted();
              const lostBeforeSwitch = await lostHold();
              if (lostBeforeSwitch !== null) throw lostBeforeSwitch;
            },
          },
        )
        .catch(async (error: unknown) => {
          // A switch that ran but whose answer was lost (a dropped connection, a timeout; the script resent then
          // finds the version no longer publishing) published it all the same: the line serves it.
          if ((await line.current().catch(() => null)) === version) return servedBefore;
          throw error;
        }),
    );
    publishing = false;
    // The new version is served from here on: a failed clean-up leaves old versions for the next build's, and the
    // run is still recorded as published, with the figures the next build's gate compares with.
    const freedAfterPublish = await freeOldVersions('cleanup', async () =>
      line.deleteOldVersions({ graceMs: config.BUILD_VERSION_GRACE, keep: await namedByExperiments() }),
    );
    const deletedVersions = [...freedAtStart, ...freedBeforePublish, ...freedAfterPublish];
    const report: BuildReport = {
      ...base,
      status: 'published',
      seconds: elapsed(),
      peakRssBytes: peakRss.finish(),
      previousVersion,
      deletedVersions,
      reason: verdict?.reason ?? null,
    };
    await finishModelRun(pool, version, {
      status: 'published',
      inputCounts,
      phaseDurations: phases,
      peakRssBytes: report.peakRssBytes,
      metrics: verdict?.metrics ?? null,
    });
    log('build published', { ...report });
    return report;
  } catch (caught) {
    let error = caught as Error;
    if (publishing) {
      await line.deleteVersion(version).catch(() => {});
      // A switch refused because a later build took the line fails for the hold this build lost.
      if (!(error instanceof ModelLineHoldLost)) error = (await lostHold(error).catch(() => null)) ?? error;
    }
    await finishModelRun(pool, version, {
      status: 'failed',
      inputCounts,
      phaseDurations: phases,
      peakRssBytes: peakRss.finish(),
      error: error.message,
    }).catch(() => {});
    log('build failed', { version, error: error.message });
    throw error;
  }
}

/** The input-shaping settings a run used, for model_runs (the similarity settings are recorded beside them). */
const paramsOf = (config: BuildConfig) => ({
  windowMs: config.BUILD_WINDOW,
  typeWeights: config.BUILD_TYPE_WEIGHTS,
  halfLifeDays: config.BUILD_HALF_LIFE_DAYS,
  maxItemsPerUser: config.BUILD_MAX_ITEMS_PER_USER,
  maxUsersPerItem: config.BUILD_MAX_USERS_PER_ITEM,
});
