import type { Command } from 'commander';
import { MIN_RETENTION_DAYS } from '../retention';
import { action } from '../run';

export function registerEvents(program: Command) {
  const events = program.command('events').description('maintain the stored events');
  events
    .command('prune')
    .description('delete events older than a duration: whole monthly partitions are dropped')
    .requiredOption('--older-than <duration>', `e.g. 180d; under ${MIN_RETENTION_DAYS}d only with --force`)
    .option('--force', `prune although the cut-off is less than ${MIN_RETENTION_DAYS} days ago`)
    .action(
      action(async (flags: { olderThan: string; force?: boolean }) =>
        (await import('../commands/events')).eventsPruneCommand(flags),
      ),
    );
  events
    .command('rebuild-live-state')
    .description(
      "rebuild Redis' user histories, purchased sets, profiles and trending counters from Postgres",
    )
    .option('--since <duration>', 'events of this recent span are replayed (e.g. 30d)', '30d')
    .action(
      action(async (flags: { since: string }) =>
        (await import('../commands/events')).eventsRebuildLiveStateCommand(flags),
      ),
    );
}
