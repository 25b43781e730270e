/**
 * Child process of the benchmarks that post events (started by shop.ts `startShopIngest`):
 * `ingest-server.ts serve <prefix> <databaseUrl>` runs the ingest server as shipped (`startIngestServer`, the one
 * `elevens serve ingest` runs) on the shop's database and keys, with auth off, and announces its port; SIGTERM
 * closes it gracefully.
 */
import { startIngestServer } from '@elevens/ingest';
import { announceAddress } from './servers';
import { shopServiceEnv } from './shop';

const [mode, prefix, databaseUrl] = process.argv.slice(2);
if (mode !== 'serve' || prefix === undefined || databaseUrl === undefined)
  throw new Error('usage: ingest-server.ts serve <prefix> <databaseUrl>');

const address = await startIngestServer(shopServiceEnv(prefix, databaseUrl, 'warn'));
announceAddress(address);
