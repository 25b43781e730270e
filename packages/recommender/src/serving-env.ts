import { z } from 'zod';
import type { RecommendSettings } from './recommend';
import { SERVING_DEFAULTS } from './serving-defaults';

/** What `/v1/recommendations` is configured with, plus how much live history it reads per request. */
export interface ServingSettings extends RecommendSettings {
  historyLength: number;
}

/**
 * The RECS_* variables: read by the api, which serves with them, and by the build, whose quality gate scores
 * what the api will serve. Give both processes the same values.
 */
export const servingEnv = {
  /** at most 200: the live history ingest keeps per user (LIVE_HISTORY_LENGTH) */
  RECS_HISTORY_LENGTH: z.coerce.number().int().min(1).max(200).default(SERVING_DEFAULTS.historyLength),
  RECS_MAX_ANCHORS: z.coerce.number().int().min(1).max(200).default(SERVING_DEFAULTS.maxAnchors),
  /** ≥ 0.05: over 200 anchors the smallest weight then stays a normal double */
  RECS_POSITION_DECAY: z.coerce.number().min(0.05).max(1).default(SERVING_DEFAULTS.positionDecay),
  RECS_SEQUENCE_SHARE: z.coerce.number().min(0).max(1).default(SERVING_DEFAULTS.sequenceShare),
  RECS_HISTORY_HALF_LIFE_HOURS: z.coerce
    .number()
    .min(1 / 60, 'at least one minute (1/60 hour)')
    .default(SERVING_DEFAULTS.historyHalfLifeHours),
  RECS_MAX_PER_CATEGORY: z.coerce.number().int().min(1).max(100).default(SERVING_DEFAULTS.maxPerCategory),
  /** comma-separated category ids where buying again is normal: purchased items of these stay recommendable */
  RECS_REPURCHASABLE_CATEGORIES: z
    .string()
    .default(SERVING_DEFAULTS.repurchasableCategories.join(','))
    .transform((value) =>
      value
        .split(',')
        .map((c) => c.trim())
        .filter((c) => c.length > 0),
    ),
};

type ServingEnv = { [K in keyof typeof servingEnv]: z.output<(typeof servingEnv)[K]> };

export const servingSettingsFrom = (env: ServingEnv): ServingSettings => ({
  historyLength: env.RECS_HISTORY_LENGTH,
  maxAnchors: env.RECS_MAX_ANCHORS,
  positionDecay: env.RECS_POSITION_DECAY,
  sequenceShare: env.RECS_SEQUENCE_SHARE,
  halfLifeMs: env.RECS_HISTORY_HALF_LIFE_HOURS * 3_600_000,
  maxPerCategory: env.RECS_MAX_PER_CATEGORY,
  repurchasableCategories: new Set(env.RECS_REPURCHASABLE_CATEGORIES),
});

/** `SERVING_DEFAULTS` as settings, for callers without an environment (tests, the in-process demo). */
export const DEFAULT_SERVING_SETTINGS: Readonly<ServingSettings> = Object.freeze({
  historyLength: SERVING_DEFAULTS.historyLength,
  maxAnchors: SERVING_DEFAULTS.maxAnchors,
  positionDecay: SERVING_DEFAULTS.positionDecay,
  sequenceShare: SERVING_DEFAULTS.sequenceShare,
  halfLifeMs: SERVING_DEFAULTS.historyHalfLifeHours * 3_600_000,
  maxPerCategory: SERVING_DEFAULTS.maxPerCategory,
  repurchasableCategories: new Set(SERVING_DEFAULTS.repurchasableCategories),
});
