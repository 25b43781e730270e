import { loadApiConfig, startApiServer } from '@elevens/api';
import { loadIngestConfig, startIngestServer } from '@elevens/ingest';
import { Argument, type Command } from 'commander';
import { refuseMissingDatabase } from '../infra';
import { action } from '../run';

export function registerServe(program: Command) {
  program
    .command('serve')
    .description('run a service until SIGINT/SIGTERM: `serve api` (port 3000) or `serve ingest` (port 3001)')
    .addArgument(new Argument('<service>', 'which service').choices(['api', 'ingest']))
    .action(
      action(async (service: 'api' | 'ingest') => {
        // The service's own check first, so a bad environment is named whole as the service names it.
        const config = service === 'api' ? loadApiConfig(process.env) : loadIngestConfig(process.env);
        await refuseMissingDatabase(config.DATABASE_URL);
        await (service === 'api' ? startApiServer(process.env) : startIngestServer(process.env));
      }),
    );
}
