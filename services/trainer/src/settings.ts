import { type BuildInputOptions, DEFAULT_SIMILARITY_PARAMS } from '@elevens/algorithms';
import type { BuildConfig } from './config';
import type { ModelSettings } from './model';

export const modelSettingsFrom = (config: BuildConfig): ModelSettings => ({
  algorithm: config.BUILD_ALGORITHM,
  similarity: {
    ...DEFAULT_SIMILARITY_PARAMS,
    k: config.BUILD_NEIGHBORS,
    minSupport: config.BUILD_MIN_SUPPORT,
    minScore: config.BUILD_MIN_SCORE,
    alpha1: config.BUILD_SWING_ALPHA1,
    alpha2: config.BUILD_SWING_ALPHA2,
    beta: config.BUILD_SWING_BETA,
    swingMaxUsersPerItem: config.BUILD_SWING_MAX_USERS_PER_ITEM,
    factors: config.BUILD_ALS_FACTORS,
    iterations: config.BUILD_ALS_ITERATIONS,
    regularization: config.BUILD_ALS_REGULARIZATION,
    alpha: config.BUILD_ALS_ALPHA,
    seed: config.BUILD_SEED,
    easeLambda: config.BUILD_EASE_LAMBDA,
  },
  popularSize: config.BUILD_POPULAR_SIZE,
  trendingRecentHours: config.BUILD_TRENDING_RECENT_HOURS,
  trendingBaselineHours: config.BUILD_TRENDING_BASELINE_HOURS,
  boughtTogetherSize: config.BUILD_NEIGHBORS,
  boughtTogetherMinSupport: config.BUILD_BOUGHT_TOGETHER_MIN_SUPPORT,
});

/** Input shaping of a build whose "now" is `referenceTimeMs` (the newest event). */
export const builderOptionsFrom = (config: BuildConfig, referenceTimeMs: number): BuildInputOptions => ({
  typeWeights: { ...config.BUILD_TYPE_WEIGHTS },
  halfLifeDays: config.BUILD_HALF_LIFE_DAYS,
  referenceTimeMs,
  maxItemsPerUser: config.BUILD_MAX_ITEMS_PER_USER,
  maxUsersPerItem: config.BUILD_MAX_USERS_PER_ITEM,
  seed: config.BUILD_SEED,
  trendingRecentHours: config.BUILD_TRENDING_RECENT_HOURS,
  trendingBaselineHours: config.BUILD_TRENDING_BASELINE_HOURS,
});
