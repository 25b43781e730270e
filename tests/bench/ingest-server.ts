/**
 * Child process of the benchmarks that post events (started by shop.ts `startShopIngest`):
 * `ingest-server.ts serve <prefix> <databaseUrl>` runs the ingest server as shipped (`startIngestServer`, the one
 * `elevens serve ingest` runs) on the shop's database and keys, with auth off, and announces its port; SIGTERM
 * closes it gracefully.
 */
import { startIngestServer } from '@elevens/ingest';
import { announceAddress } from './servers';
import { REDIS_URL } from './shop';

const [mode, prefix, databaseUrl] = process.argv.slice(2);
if (mode !== 'serve' || prefix === undefined || databaseUrl === undefined)
  throw new Error('usage: ingest-server.ts serve <prefix> <databaseUrl>');

const address = await startIngestServer({
  ...process.env,
  HOST: '127.0.0.1',
  PORT: '0',
  REDIS_URL,
  DATABASE_URL: databaseUrl,
  REDIS_KEY_PREFIX: prefix,
  LOG_LEVEL: 'warn',
  AUTH_REQUIRED: 'false',
  // Measured at saturation on purpose: shedding load would answer 503s instead of acknowledgements.
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
});
announceAddress(address);
