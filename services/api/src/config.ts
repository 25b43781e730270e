import { baseEnv, httpEnv, loadEnv } from '@elevens/config';
import { z } from 'zod';

export const ApiEnv = z.object({
  ...baseEnv,
  ...httpEnv(3000),
  PG_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(5),
  /** how often the served model version and the catalog's unservable set are checked */
  MODEL_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(500),
  /** neighbour lists kept in process, across versions */
  NEIGHBOR_CACHE_ENTRIES: z.coerce.number().int().min(0).max(10_000_000).default(200_000),
  RECS_HISTORY_LENGTH: z.coerce.number().int().min(1).max(1000).default(50),
  RECS_MAX_ANCHORS: z.coerce.number().int().min(1).max(200).default(20),
  RECS_HISTORY_HALF_LIFE_HOURS: z.coerce.number().positive().default(72),
  RECS_MAX_PER_CATEGORY: z.coerce.number().int().min(1).max(100).default(4),
});
export type ApiConfig = z.output<typeof ApiEnv>;

export const loadApiConfig = (env: NodeJS.ProcessEnv): ApiConfig => loadEnv(ApiEnv, env, 'api');
