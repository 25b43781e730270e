import { buildApiApp, loadApiConfig } from '@elevens/api';
import { describe } from 'vitest';
import { fixtureModel } from '../services/api/test/recommendations-fixtures';
import { fuzzService, isPush } from './support/fuzz-inputs';

describe('fuzzing the API push routes', async () => {
  await fuzzService(
    'fuzz-api-push',
    async (env) => {
      const app = await buildApiApp({ config: loadApiConfig({ ...env, MODEL_POLL_MS: '50' }) });
      // With a model served, decisions asking for an item reach the recommendation code.
      await app.modelStore.line().publish(fixtureModel('v-fuzz'));
      await app.model.refresh();
      return app;
    },
    isPush,
  );
});
