import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { describe } from 'vitest';
import { fuzzService, isDocsOrMetrics } from './support/fuzz-inputs';

describe('fuzzing the ingest routes', async () => {
  await fuzzService(
    'fuzz-ingest',
    (env) => buildIngestApp({ config: loadIngestConfig(env) }),
    (route) => !isDocsOrMetrics(route),
  );
});
