import { randomBytes } from 'node:crypto';
import { DEFAULT_SIMILARITY_PARAMS, DEFAULT_TYPE_WEIGHTS, InteractionsBuilder } from '@elevens/algorithms';
import { deleteOldModelVersions, publishModel, type Redis, type RedisKeys } from '@elevens/cache';
import { finishModelRun, listItemCategories, newestEventMs, type Pool, startModelRun } from '@elevens/db';
import type { BuildAlgorithm, BuildConfig } from './config';
import { IdIndex, streamEventsInto } from './event-source';
import { assembleModel, type ModelSettings } from './model';

export interface BuildDeps {
  pool: Pool;
  redis: Redis;
  keys: RedisKeys;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** called as phases start and as events stream in, for a progress bar */
  onPhase?: (phase: string, progress?: { events: number }) => void;
}

export interface BuildReport {
  version: string;
  status: 'published' | 'failed';
  algorithm: BuildAlgorithm;
  events: number;
  users: number;
  items: number;
  phases: Record<string, number>;
  peakRssBytes: number;
  previousVersion: string | null;
  deletedVersions: string[];
}

export const newModelVersion = (nowMs = Date.now()) =>
  `${new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;

export const modelSettingsFrom = (config: BuildConfig): ModelSettings => ({
  algorithm: config.BUILD_ALGORITHM,
  similarity: {
    ...DEFAULT_SIMILARITY_PARAMS,
    k: config.BUILD_NEIGHBORS,
    minSupport: config.BUILD_MIN_SUPPORT,
    seed: config.BUILD_SEED,
  },
  popularSize: config.BUILD_POPULAR_SIZE,
  trendingRecentHours: config.BUILD_TRENDING_RECENT_HOURS,
  trendingBaselineHours: config.BUILD_TRENDING_BASELINE_HOURS,
  boughtTogetherSize: config.BUILD_NEIGHBORS,
});

/**
 * One build: stream the window's events from Postgres, assemble the model, publish it as a new version, record
 * the run. A failure at any point leaves the served model as it was (the pointer only moves at the very end).
 */
export async function runBuild(deps: BuildDeps, config: BuildConfig): Promise<BuildReport> {
  const { pool, redis, keys, log } = deps;
  const version = newModelVersion();
  const settings = modelSettingsFrom(config);
  const phases: Record<string, number> = {};
  let peakRss = process.memoryUsage().rss;
  const sampleRss = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };
  const rssTimer = setInterval(sampleRss, 200);
  const timed = async <T>(phase: string, fn: () => Promise<T> | T): Promise<T> => {
    deps.onPhase?.(phase);
    const start = performance.now();
    try {
      return await fn();
    } finally {
      phases[phase] = (performance.now() - start) / 1000;
      sampleRss();
    }
  };
  await startModelRun(pool, { version, algorithm: settings.algorithm, params: { ...settings } });
  log('build started', { version, algorithm: settings.algorithm });
  try {
    const newest = await newestEventMs(pool);
    const referenceTimeMs = newest ?? Date.now();
    const window = { fromMs: referenceTimeMs - config.BUILD_WINDOW, toMs: referenceTimeMs };
    const builder = new InteractionsBuilder({
      typeWeights: { ...DEFAULT_TYPE_WEIGHTS },
      halfLifeDays: config.BUILD_HALF_LIFE_DAYS,
      referenceTimeMs,
      maxItemsPerUser: config.BUILD_MAX_ITEMS_PER_USER,
      maxUsersPerItem: config.BUILD_MAX_USERS_PER_ITEM,
      seed: config.BUILD_SEED,
      trendingRecentHours: config.BUILD_TRENDING_RECENT_HOURS,
      trendingBaselineHours: config.BUILD_TRENDING_BASELINE_HOURS,
    });
    const items = new IdIndex();
    const source = await timed('read', () =>
      streamEventsInto(pool, window, builder, items, (events) => deps.onPhase?.('read', { events })),
    );
    const categories = await timed('catalog', async () => {
      const byItem = new Map((await listItemCategories(pool)).map((r) => [r.itemId, r.categoryId ?? '']));
      return items.ids.map((id) => byItem.get(id) ?? '');
    });
    const input = await timed('prepare', () => builder.build(source.users.size, items.size));
    const assembled = await timed('model', () =>
      assembleModel(input, items.ids, categories, settings, version, Date.now()),
    );
    Object.assign(phases, assembled.phases);
    const previousVersion = await timed('publish', () =>
      publishModel(redis, keys, {
        ...assembled.model,
        meta: {
          events: source.events,
          users: source.users.size,
          windowFrom: window.fromMs,
          windowTo: window.toMs,
        },
      }),
    );
    const deletedVersions = await timed('cleanup', () =>
      deleteOldModelVersions(redis, keys, config.BUILD_VERSION_GRACE),
    );
    const report: BuildReport = {
      version,
      status: 'published',
      algorithm: settings.algorithm,
      events: source.events,
      users: source.users.size,
      items: items.size,
      phases,
      peakRssBytes: peakRss,
      previousVersion,
      deletedVersions,
    };
    await finishModelRun(pool, version, {
      status: 'published',
      inputCounts: { events: report.events, users: report.users, items: report.items },
      phaseDurations: phases,
      peakRssBytes: peakRss,
    });
    log('build published', { ...report });
    return report;
  } catch (error) {
    await finishModelRun(pool, version, {
      status: 'failed',
      phaseDurations: phases,
      peakRssBytes: peakRss,
      error: (error as Error).message,
    }).catch(() => {});
    throw error;
  } finally {
    clearInterval(rssTimer);
  }
}
