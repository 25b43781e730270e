import { baseEnv, httpEnv, loadEnv } from '@elevens/config';
import { securityEnv } from '@elevens/http';
import { z } from 'zod';
import { attributionEnv } from './plugins/attribution';

export const IngestEnv = z
  .object({
    ...attributionEnv,
    ...baseEnv,
    ...httpEnv(3001),
    ...securityEnv,
    INGEST_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(5 * 1024 * 1024),
    PG_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    /** Group commit: a group stops taking requests at this many events. */
    INGEST_GROUP_MAX_EVENTS: z.coerce.number().int().min(1).max(100_000).default(5_000),
    /** Group commit: how long an arriving request waits for others before its group is written. */
    INGEST_GROUP_MAX_WAIT_MS: z.coerce.number().min(0).max(1_000).default(2),
    /** Groups written concurrently; each holds a pool connection, so keep it below PG_POOL_SIZE. */
    INGEST_WRITE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    /** Answers wait at most this long for the live-state update after a commit. */
    INGEST_LIVE_STATE_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
    /** Months of event partitions created ahead, at start-up and every hour. */
    INGEST_PARTITIONS_AHEAD: z.coerce.number().int().min(0).max(24).default(2),
  })
  // Writes that could take every pool connection would leave reads, the attribution worker and the readiness
  // check waiting behind a burst of events.
  .refine((env) => env.INGEST_WRITE_CONCURRENCY < env.PG_POOL_SIZE, {
    path: ['INGEST_WRITE_CONCURRENCY'],
    // Only between valid values: a refused PG_POOL_SIZE would be compared as the 0 it was read as.
    when: (payload) => payload.issues.length === 0,
    error: (issue) => {
      const env = issue.input as { INGEST_WRITE_CONCURRENCY: number; PG_POOL_SIZE: number };
      return `${env.INGEST_WRITE_CONCURRENCY} writes at once must be below PG_POOL_SIZE (${env.PG_POOL_SIZE}): each holds a pool connection, and reads and health checks need one left`;
    },
  });
export type IngestConfig = z.output<typeof IngestEnv>;

export const loadIngestConfig = (env: NodeJS.ProcessEnv): IngestConfig => loadEnv(IngestEnv, env, 'ingest');
