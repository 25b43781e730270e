import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { describe } from 'vitest';
import { fuzzService, isDocsOrMetrics } from './support/fuzz-inputs';

describe('fuzzing the ingest docs and metrics routes', async () => {
  await fuzzService(
    'fuzz-ingest-docs',
    (env) => buildIngestApp({ config: loadIngestConfig(env) }),
    isDocsOrMetrics,
  );
});
