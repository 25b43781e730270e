import { baseEnv, Duration, loadEnv } from '@elevens/config';
import { z } from 'zod';

const algorithm = z.enum(['cosine', 'jaccard', 'llr', 'swing', 'als']);

/** Build settings from the environment; command-line flags override them. */
export const BuildEnv = z.object({
  ...baseEnv,
  BUILD_ALGORITHM: algorithm.default('cosine'),
  BUILD_WINDOW: Duration.default(90 * 86_400_000),
  BUILD_HALF_LIFE_DAYS: z.coerce.number().positive().default(30),
  BUILD_NEIGHBORS: z.coerce.number().int().min(1).max(500).default(50),
  BUILD_MIN_SUPPORT: z.coerce.number().int().min(1).default(2),
  BUILD_MAX_ITEMS_PER_USER: z.coerce.number().int().min(1).default(500),
  BUILD_MAX_USERS_PER_ITEM: z.coerce.number().int().min(1).default(1000),
  BUILD_POPULAR_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
  BUILD_TRENDING_RECENT_HOURS: z.coerce.number().positive().default(3),
  BUILD_TRENDING_BASELINE_HOURS: z.coerce.number().positive().default(72),
  /** how long a replaced model version stays readable before it is deleted */
  BUILD_VERSION_GRACE: Duration.default(10 * 60_000),
  BUILD_SEED: z.coerce.number().int().default(42),
});
export type BuildConfig = z.output<typeof BuildEnv>;
export type BuildAlgorithm = z.infer<typeof algorithm>;

export const loadBuildConfig = (env: NodeJS.ProcessEnv): BuildConfig => loadEnv(BuildEnv, env, 'build');
