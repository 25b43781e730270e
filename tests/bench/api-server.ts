/**
 * Child process of bench:api, bench:festival and profile:api (started by shop.ts `startShopApi`):
 * `api-server.ts serve <prefix> <databaseUrl> [cacheTtl]` runs the API app as shipped on the shop's keys, with
 * auth off, and announces its port.
 */
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { announcePort } from './servers';
import { REDIS_URL } from './shop';

const [mode, prefix, databaseUrl, cacheTtl] = process.argv.slice(2);
if (mode !== 'serve' || prefix === undefined || databaseUrl === undefined)
  throw new Error('usage: api-server.ts serve <prefix> <databaseUrl> [cacheTtl]');

const api = await buildApiApp({
  config: loadApiConfig({
    ...process.env,
    REDIS_URL,
    DATABASE_URL: databaseUrl,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'error',
    AUTH_REQUIRED: 'false',
    // Measured at saturation on purpose: shedding load would answer 503s instead of recommendations.
    PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...(cacheTtl === undefined ? {} : { RECOMMENDATION_CACHE_TTL: cacheTtl }),
  }),
});
await api.listen({ host: '127.0.0.1', port: 0 });
announcePort(api, () => api.close());
