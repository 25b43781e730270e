import { Argument, type Command } from 'commander';
import { action } from '../run';

export function registerServe(program: Command) {
  program
    .command('serve')
    .description('run a service until SIGINT/SIGTERM: `serve api` (port 3000) or `serve ingest` (port 3001)')
    .addArgument(new Argument('<service>', 'which service').choices(['api', 'ingest']))
    .action(
      action(async (service: 'api' | 'ingest') => (await import('../commands/serve')).serveCommand(service)),
    );
}
