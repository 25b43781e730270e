import { buildApiApp, loadApiConfig } from '@elevens/api';
import { describe } from 'vitest';
import { fixtureModel } from '../services/api/test/recommendations-fixtures';
import { fuzzService, isDashboard, isDocsOrMetrics, isPush } from './support/fuzz-inputs';

describe('fuzzing the API routes', async () => {
  await fuzzService(
    'fuzz-api',
    async (env) => {
      const app = await buildApiApp({ config: loadApiConfig({ ...env, MODEL_POLL_MS: '50' }) });
      // With a model served, requests reach the recommendation code instead of the empty answer.
      await app.modelStore.line().publish(fixtureModel('v-fuzz'));
      await app.model.refresh();
      return app;
    },
    (route) => !isDocsOrMetrics(route) && !isPush(route) && !isDashboard(route),
  );
});
