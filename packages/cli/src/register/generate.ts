import type { Command } from 'commander';
import type { GenerateFlags } from '../commands/generate';
import { action, parseInteger } from '../run';

export function registerGenerate(program: Command) {
  program
    .command('generate')
    .description(
      'stream a seeded synthetic event log as CSV (Zipf popularity, categories, sessions, view → cart → purchase funnel, festival spike)',
    )
    .requiredOption('--users <n>', 'users', parseInteger('--users'))
    .requiredOption('--items <n>', 'items', parseInteger('--items'))
    .requiredOption('--events <n>', 'events', parseInteger('--events'))
    .option(
      '--seed <n>',
      'seed: the same seed gives the same stream within a UTC day (the time window ends yesterday)',
      parseInteger('--seed'),
      11,
    )
    .option('--days <n>', 'length of the time window in days (default 14)', parseInteger('--days'))
    .option('--out <file>', 'events CSV file (default: stdout)')
    .option('--catalog-out <file>', 'also write the catalog as CSV (item_id,category_id,title,price)')
    .action(
      action(async (flags: GenerateFlags) => (await import('../commands/generate')).generateCommand(flags)),
    );
}
