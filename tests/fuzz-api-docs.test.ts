import { buildApiApp, loadApiConfig } from '@elevens/api';
import { describe } from 'vitest';
import { fuzzService, isDocsOrMetrics } from './support/fuzz-inputs';

describe('fuzzing the API docs and metrics routes', async () => {
  await fuzzService('fuzz-api-docs', (env) => buildApiApp({ config: loadApiConfig(env) }), isDocsOrMetrics);
});
