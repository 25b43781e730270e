import type { Command } from 'commander';
import { action } from '../run';
import { DEFAULT_MODEL_LINE } from './choices';

export function registerModel(program: Command) {
  const model = program
    .command('model')
    .description('list the published model versions of each model line, roll a line back');

  model
    .command('list')
    .description(
      'model versions in Redis (current, published, retired, publishing: not switched yet, or left by a killed build) per model line, and the recent runs in Postgres',
    )
    .option('--model <name>', 'only this model line')
    .option('--json', 'print { lines: { <line>: versions }, runs } as JSON')
    .action(
      action(async (flags: { json?: boolean; model?: string }) =>
        (await import('../commands/model')).modelListCommand(flags),
      ),
    );

  model
    .command('rollback')
    .description("serve a model line's previous published version again; the current one is retired")
    .option('--model <name>', `the model line (default: ${DEFAULT_MODEL_LINE})`)
    .action(
      action(async (flags: { model?: string }) =>
        (await import('../commands/model')).modelRollbackCommand(flags),
      ),
    );
}
