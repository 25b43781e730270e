import { baseEnv, httpEnv, loadEnv } from '@elevens/config';
import { z } from 'zod';

export const IngestEnv = z.object({
  ...baseEnv,
  ...httpEnv(3001),
  INGEST_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(5 * 1024 * 1024),
  PG_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
});
export type IngestConfig = z.output<typeof IngestEnv>;

export const loadIngestConfig = (env: NodeJS.ProcessEnv): IngestConfig => loadEnv(IngestEnv, env, 'ingest');
