import { buildApiApp, loadApiConfig } from '@elevens/api';
import type { RouteAccess } from '@elevens/http';
import { describe } from 'vitest';
import { fuzzService } from './support/fuzz-inputs';

const isReportOrExperiment = (route: RouteAccess) =>
  route.url.startsWith('/v1/reports') || route.url.startsWith('/v1/experiments');

describe('fuzzing the API report and experiment routes', async () => {
  await fuzzService(
    'fuzz-api-reports',
    async (env) => buildApiApp({ config: loadApiConfig(env) }),
    isReportOrExperiment,
  );
});
