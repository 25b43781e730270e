import type { Command } from 'commander';
import { action } from '../run';

export function registerMigrate(program: Command) {
  program
    .command('migrate')
    .description(
      'create the database if needed, apply pending migrations, and move Redis keys of older releases to the current layout',
    )
    .action(action(async () => (await import('../commands/migrate')).migrateCommand()));
}
