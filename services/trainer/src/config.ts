import {
  DEFAULT_TYPE_WEIGHTS,
  EVENT_TYPE_CODES,
  type EventTypeName,
  MAX_SWING_USERS_PER_ITEM,
} from '@elevens/algorithms';
import { baseEnv, Duration, loadEnv, MAX_TIMER_MS, parseDuration } from '@elevens/config';
import { servingEnv } from '@elevens/recommender';
import { DEFAULT_MODEL_LINE, MODEL_LINE_PATTERN } from '@elevens/redis-stores';
import { z } from 'zod';
import { BUILD_ALGORITHMS } from './choices';

const algorithm = z.enum(BUILD_ALGORITHMS);

/** `view=1,fav=2,cart=3,purchase=5`: types left out keep their default weight. */
export function parseTypeWeights(text: string): Record<EventTypeName, number> {
  const weights: Record<EventTypeName, number> = { ...DEFAULT_TYPE_WEIGHTS };
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const match = /^\s*([a-z_]+)\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    const type = match?.[1] as EventTypeName | undefined;
    if (!match || !type || !EVENT_TYPE_CODES.includes(type))
      throw new Error(
        `not a type weight: ${JSON.stringify(part)} (use e.g. view=1,fav=2,cart=3,purchase=5; types: ${EVENT_TYPE_CODES.join(', ')})`,
      );
    weights[type] = Number(match[2]);
  }
  return weights;
}

const TypeWeights = z.string().transform((text, ctx) => {
  try {
    return parseTypeWeights(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const count = (min: number) => z.coerce.number().int().min(min);

const isAlgorithm = (name: string) => (algorithm.options as readonly string[]).includes(name);

/** Build settings from the environment; command-line flags override them (see `buildEnvFromFlags`). */
export const BuildEnv = z
  .object({
    ...baseEnv,
    ...servingEnv,
    /**
     * the model line published to: the default line serves every answer outside experiments; a named line is
     * served to experiment arms that name it (an arm's personalizing algorithm names the line of that name)
     */
    BUILD_MODEL: z
      .string()
      .regex(MODEL_LINE_PATTERN, 'lowercase letters, digits, _ and -, 1-32 characters')
      .default(DEFAULT_MODEL_LINE),
    /** cosine: best with position-weighted serving on the validation splits of docs/evaluation.md, and cheapest */
    BUILD_ALGORITHM: algorithm.default('cosine'),
    /** events considered, counted back from the newest event (not the wall clock): a year keeps returning shoppers */
    BUILD_WINDOW: Duration.pipe(z.number().positive()).default(365 * 86_400_000),
    BUILD_TYPE_WEIGHTS: TypeWeights.default({ ...DEFAULT_TYPE_WEIGHTS }),
    /** a year: shorter half-lives distort long histories' similarities (docs/evaluation.md) */
    BUILD_HALF_LIFE_DAYS: z.coerce.number().positive().default(365),
    BUILD_NEIGHBORS: count(1).max(500).default(50),
    BUILD_MIN_SUPPORT: count(1).default(2),
    /**
     * baskets two items need in common to be bought together: at 1, one co-purchase of two rare items scores
     * Ochiai 1.0 and tops both lists
     */
    BUILD_BOUGHT_TOGETHER_MIN_SUPPORT: count(1).default(2),
    BUILD_MIN_SCORE: z.coerce.number().min(0).default(0),
    BUILD_MAX_ITEMS_PER_USER: count(1).default(500),
    BUILD_MAX_USERS_PER_ITEM: count(1).default(1000),
    BUILD_SWING_ALPHA1: z.coerce.number().min(0).default(5),
    BUILD_SWING_ALPHA2: z.coerce.number().positive().default(1),
    BUILD_SWING_BETA: z.coerce.number().min(0).default(0.3),
    BUILD_SWING_MAX_USERS_PER_ITEM: count(2).max(MAX_SWING_USERS_PER_ITEM).default(500),
    BUILD_ALS_FACTORS: count(1).max(256).default(32),
    BUILD_ALS_ITERATIONS: count(1).default(10),
    BUILD_ALS_REGULARIZATION: z.coerce.number().positive().default(0.05),
    BUILD_ALS_ALPHA: z.coerce.number().min(0).default(10),
    /** EASE^R's L2 penalty λ (BUILD_ALGORITHM=ease, catalogs up to 4,000 items) */
    BUILD_EASE_LAMBDA: z.coerce.number().positive().default(500),
    BUILD_POPULAR_SIZE: count(1).max(10_000).default(500),
    BUILD_TRENDING_RECENT_HOURS: z.coerce.number().positive().default(3),
    BUILD_TRENDING_BASELINE_HOURS: z.coerce.number().positive().default(72),
    /** how long a replaced model version stays readable before it is deleted */
    BUILD_VERSION_GRACE: Duration.default(10 * 60_000),
    BUILD_SEED: z.coerce.number().int().default(42),
    /**
     * the longest one `elevens build` may run before it fails and its connections are closed: a Postgres or Redis
     * that stops answering without closing them would otherwise hang a nightly build, or the `--every` loop, for
     * good. Two hours: bench:build builds 10,000,000 events in under a minute (docs/benchmarks.md)
     */
    BUILD_TIMEOUT: Duration.pipe(z.number().positive().max(MAX_TIMER_MS)).default(2 * 3_600_000),
    /**
     * how long a build past BUILD_TIMEOUT has, once its connections are closed, to stop, and then to record its
     * failure: past each, the command gives up waiting on a store that still does not answer and ends the build.
     * A build stopped by SIGINT or SIGTERM has as long to reach its next step before its connections are closed.
     */
    BUILD_STOP_GRACE: Duration.pipe(z.number().positive().max(MAX_TIMER_MS)).default(5_000),
    /** the quality gate refuses a model whose holdout NDCG@10 is more than this fraction below the served one's */
    BUILD_GATE_MARGIN: z.coerce.number().min(0).max(1).default(0.1),
    /** publish even when the quality gate refuses the model (`elevens build --force`) */
    BUILD_GATE_FORCE: z
      .enum(['true', 'false'])
      .default('false')
      .transform((value) => value === 'true'),
    /**
     * users the quality gate scores at most, the same users build after build: at 3000 the standard error of
     * NDCG@10 is about 0.005 on the generator's data, under half the default margin (docs/evaluation.md)
     */
    BUILD_GATE_MAX_USERS: count(1).default(3000),
  })
  // Arms naming algorithm X are served from the line X: it must hold X's models.
  .refine((config) => !isAlgorithm(config.BUILD_MODEL) || config.BUILD_MODEL === config.BUILD_ALGORITHM, {
    path: ['BUILD_MODEL'],
    message:
      'a model line named for an algorithm is built with that algorithm (--algorithm or BUILD_ALGORITHM)',
  })
  // The baseline window is (now − baseline hours, now − recent hours]: it must not be empty.
  .refine((config) => config.BUILD_TRENDING_BASELINE_HOURS > config.BUILD_TRENDING_RECENT_HOURS, {
    path: ['BUILD_TRENDING_BASELINE_HOURS'],
    message: 'must be greater than BUILD_TRENDING_RECENT_HOURS',
  })
  // Events before the window are never read: a baseline reaching past it counts too few, and steady items trend.
  .superRefine((config, ctx) => {
    const baselineHours = config.BUILD_TRENDING_BASELINE_HOURS;
    if (config.BUILD_WINDOW < baselineHours * 3_600_000)
      ctx.addIssue({
        code: 'custom',
        path: ['BUILD_WINDOW'],
        message: `must cover BUILD_TRENDING_BASELINE_HOURS (${baselineHours} hours)`,
      });
  });
export type BuildConfig = z.output<typeof BuildEnv>;
export type BuildAlgorithm = z.infer<typeof algorithm>;
export { BUILD_ALGORITHMS };

export const loadBuildConfig = (env: NodeJS.ProcessEnv): BuildConfig => loadEnv(BuildEnv, env, 'build');

/** `elevens build` flags, as commander hands them over (strings or switches, absent when not given). */
export interface BuildFlags {
  model?: string;
  algorithm?: string;
  window?: string;
  weights?: string;
  halfLife?: string;
  k?: string;
  minSupport?: string;
  maxItemsPerUser?: string;
  maxUsersPerItem?: string;
  force?: boolean;
  every?: string;
}

const FLAG_ENV: Record<Exclude<keyof BuildFlags, 'every'>, keyof BuildConfig> = {
  model: 'BUILD_MODEL',
  algorithm: 'BUILD_ALGORITHM',
  window: 'BUILD_WINDOW',
  weights: 'BUILD_TYPE_WEIGHTS',
  halfLife: 'BUILD_HALF_LIFE_DAYS',
  k: 'BUILD_NEIGHBORS',
  minSupport: 'BUILD_MIN_SUPPORT',
  maxItemsPerUser: 'BUILD_MAX_ITEMS_PER_USER',
  maxUsersPerItem: 'BUILD_MAX_USERS_PER_ITEM',
  force: 'BUILD_GATE_FORCE',
};

/**
 * The environment with the given flags laid over it, so flags and env go through the same validation.
 * `--model <algorithm>` without `--algorithm` builds that algorithm.
 */
export function buildEnvFromFlags(env: NodeJS.ProcessEnv, flags: BuildFlags): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...env };
  for (const [flag, name] of Object.entries(FLAG_ENV)) {
    const value = flags[flag as keyof typeof FLAG_ENV];
    if (value !== undefined) merged[name] = String(value);
  }
  if (flags.model !== undefined && flags.algorithm === undefined && isAlgorithm(flags.model))
    merged.BUILD_ALGORITHM = flags.model;
  return merged;
}

/**
 * `--every 15m` → 900000; null when absent. Rejects intervals under a second (a typo, not a schedule) and over
 * 24 days (no timer waits that long: the builds would run back to back).
 */
export function parseEvery(text: string | undefined): number | null {
  if (text === undefined) return null;
  const ms = parseDuration(text);
  if (ms < 1000) throw new Error(`--every must be at least 1s, got ${JSON.stringify(text)}`);
  if (ms > MAX_TIMER_MS) throw new Error(`--every must be at most 24d, got ${JSON.stringify(text)}`);
  return ms;
}
