import type { Command } from 'commander';
import { action } from '../run';

export function registerRollups(program: Command) {
  const rollups = program.command('rollups').description('maintain the attribution roll-ups');
  rollups
    .command('rebuild')
    .description(
      'recompute the roll-ups of a window of hours from the stored events (all of them by default), replacing ' +
        'the stored ones; the running workers carry on where it stops',
    )
    .option('--from <instant>', 'first hour rebuilt (ISO 8601; floored to the hour)')
    .option('--to <instant>', 'end of the window (ISO 8601, exclusive; ceiled to the hour)')
    .option(
      '--window <duration>',
      'last-touch attribution window (default: ATTRIBUTION_WINDOW, as ingest reads it; 24h without it)',
    )
    .action(
      action(async (flags: { from?: string; to?: string; window?: string }) =>
        (await import('../commands/rollups')).rollupsRebuildCommand(flags),
      ),
    );
}
