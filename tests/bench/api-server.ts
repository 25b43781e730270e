/**
 * Child process of bench:api, bench:festival and profile:api (started by shop.ts `startShopApi`):
 * `api-server.ts serve <prefix> <databaseUrl> [cacheTtl]` runs the API server as shipped (`startApiServer`, the
 * one `elevens serve api` runs, with API_THREADS from the environment) on the shop's keys, with auth off, and
 * announces its port; SIGTERM closes it gracefully.
 */
import { startApiServer } from '@elevens/api';
import { announceAddress } from './servers';
import { REDIS_URL } from './shop';

const [mode, prefix, databaseUrl, cacheTtl] = process.argv.slice(2);
if (mode !== 'serve' || prefix === undefined || databaseUrl === undefined)
  throw new Error('usage: api-server.ts serve <prefix> <databaseUrl> [cacheTtl]');

const address = await startApiServer({
  ...process.env,
  HOST: '127.0.0.1',
  PORT: '0',
  REDIS_URL,
  DATABASE_URL: databaseUrl,
  REDIS_KEY_PREFIX: prefix,
  LOG_LEVEL: 'error',
  AUTH_REQUIRED: 'false',
  // Measured at saturation on purpose: shedding load would answer 503s instead of recommendations.
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
  ...(cacheTtl === undefined ? {} : { RECOMMENDATION_CACHE_TTL: cacheTtl }),
});
announceAddress(address);
