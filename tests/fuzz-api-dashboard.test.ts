import { buildApiApp, loadApiConfig } from '@elevens/api';
import { describe } from 'vitest';
import { fuzzService, isDashboard } from './support/fuzz-inputs';

describe('fuzzing the API dashboard routes', async () => {
  await fuzzService('fuzz-api-dashboard', (env) => buildApiApp({ config: loadApiConfig(env) }), isDashboard);
});
