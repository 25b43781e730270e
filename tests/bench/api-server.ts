/**
 * Child process of bench:api, bench:festival and profile:api (started by shop.ts `startShopApi`):
 * `api-server.ts serve <prefix> <databaseUrl> [cacheTtl]` runs the API server as shipped (`startApiServer`, the
 * one `elevens serve api` runs, with API_THREADS from the environment) on the shop's keys, with auth off, and
 * announces its port; SIGTERM closes it gracefully.
 */
import { startApiServer } from '@elevens/api';
import { announceAddress } from './servers';
import { shopServiceEnv } from './shop';

const [mode, prefix, databaseUrl, cacheTtl] = process.argv.slice(2);
if (mode !== 'serve' || prefix === undefined || databaseUrl === undefined)
  throw new Error('usage: api-server.ts serve <prefix> <databaseUrl> [cacheTtl]');

const address = await startApiServer({
  ...shopServiceEnv(prefix, databaseUrl, 'error'),
  ...(cacheTtl === undefined ? {} : { RECOMMENDATION_CACHE_TTL: cacheTtl }),
});
announceAddress(address);
