import type { Command } from 'commander';
import { action } from '../run';

export function registerReport(program: Command) {
  const report = program.command('report').description('reports from the attribution roll-ups');
  report
    .command('campaign')
    .description(
      'the post-event report: recommendation and push performance per campaign and per hour, the peak hour, ' +
        'push suppression reasons',
    )
    .requiredOption('--from <instant>', 'start (ISO 8601)')
    .requiredOption('--to <instant>', 'end (ISO 8601, exclusive)')
    .option('--format <format>', 'md or csv', 'md')
    .option('--out <file>', 'write the report here instead of to stdout')
    .action(
      action(async (flags: { from: string; to: string; format: string; out?: string }) =>
        (await import('../commands/report')).reportCampaignCommand(flags),
      ),
    );
}
