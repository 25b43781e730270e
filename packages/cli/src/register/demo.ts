import type { Command } from 'commander';
import type { DemoFlags } from '../commands/demo';
import { action, parseInteger } from '../run';

export function registerDemo(program: Command) {
  program
    .command('demo')
    .description(
      'migrate, generate data, ingest it over HTTP, build a model, serve it and print recommendations',
    )
    .option('--once', 'exit after printing instead of serving until Ctrl-C')
    .option('--users <n>', 'synthetic users', parseInteger('--users', 1), 2_000)
    .option('--items <n>', 'synthetic items', parseInteger('--items', 1), 1_000)
    .option('--events <n>', 'synthetic events', parseInteger('--events', 0), 60_000)
    .option('--seed <n>', 'generator seed', parseInteger('--seed'), 11)
    .option('--api-port <port>', 'API port (0: any free one)', parseInteger('--api-port', 0, 65_535), 3000)
    .option(
      '--ingest-port <port>',
      'ingest port (0: any free one)',
      parseInteger('--ingest-port', 0, 65_535),
      3001,
    )
    .action(action(async (flags: DemoFlags) => (await import('../commands/demo')).demoCommand(flags)));
}
