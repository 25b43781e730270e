import { baseEnv, Duration, httpEnv, loadEnv, PositiveMilliseconds } from '@elevens/config';
import { TimeZone } from '@elevens/domain';
import { securityEnv } from '@elevens/http';
import { servingEnv } from '@elevens/recommender';
import { z } from 'zod';

export const ApiEnv = z.object({
  ...baseEnv,
  ...httpEnv(3000),
  ...securityEnv,
  PG_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(5),
  /**
   * event loops (threads) serving requests in the one process, all on PORT: one per core the API may use. Each
   * holds its own copy of the model's small parts and connections (PG_POOL_SIZE each); the lists, most of a
   * model's memory, are shared
   */
  API_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  /** how often the served model version and the catalog's unservable set are checked */
  MODEL_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(500),
  ...servingEnv,
  /**
   * how long a computed recommendation answer may be served again from the per-user reply cache (any write of
   * the user's state, rules, catalog or model ends it sooner); 0 turns the cache off. Two minutes: what ages in
   * an entry is the trending fill. At most an hour: trending is counted by the hour, and an erasure's mark, which
   * keeps late writes of an erased user's answers out, lasts one
   */
  RECOMMENDATION_CACHE_TTL: z
    .string()
    .transform((text) => (text.trim() === '0' ? '0ms' : text))
    .pipe(Duration)
    .pipe(z.number().max(3_600_000, "must be 1h or less: trending is hourly, and an erasure's mark lasts 1h"))
    .default(120_000),
  /**
   * how many times a query must be computed under one state of the user before its answer is stored (nginx's
   * proxy_cache_min_uses): 2, the default, stores nothing for users who send an event before every read (a
   * festival's browse-then-read, where no entry would ever be served), at the price of one more computation for
   * those who read repeatedly; 1 stores every computed answer
   */
  RECOMMENDATION_CACHE_MIN_USES: z
    .enum(['1', '2'])
    .default('2')
    .transform((uses) => (uses === '1' ? 1 : 2)),
  /** how often the merchandiser boost rules are checked (changes apply within this interval) */
  BOOST_RULES_POLL_MS: z.coerce.number().int().min(50).max(500).default(250),
  /** how often the push rules and quiet hours are checked (changes apply within this interval) */
  PUSH_CONFIG_POLL_MS: z.coerce.number().int().min(50).max(500).default(250),
  /** the time zone of quiet hours for users whose profile names none */
  PUSH_DEFAULT_TIMEZONE: TimeZone.default('UTC'),
  /** the same campaign to the same user within this period is refused as duplicate_campaign */
  PUSH_DUPLICATE_CAMPAIGN_PERIOD: Duration.default(24 * 3_600_000),
  /** items pushed to a user within this period are not chosen again by withItem */
  PUSH_ITEM_EXCLUSION: Duration.default(7 * 86_400_000),
  /** users whose profile time zone is remembered in process (a stale entry costs one more Redis call) */
  PUSH_TIMEZONE_CACHE_ENTRIES: z.coerce.number().int().min(0).max(10_000_000).default(100_000),
  /** decision counters are added to Redis this often (and on shutdown) */
  PUSH_STATS_FLUSH_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  /** hourly decision counters are kept this long (an EXPIRE of 0 deleted each as it was written) */
  PUSH_STATS_RETENTION: Duration.pipe(PositiveMilliseconds).default(400 * 86_400_000),
});
export type ApiConfig = z.output<typeof ApiEnv>;

export const loadApiConfig = (env: NodeJS.ProcessEnv): ApiConfig => loadEnv(ApiEnv, env, 'api');
