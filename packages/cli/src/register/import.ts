import { type Command, Option } from 'commander';
import type { ImportFlags } from '../commands/import';
import { action, parseInteger } from '../run';
import { IMPORT_FORMATS } from './choices';

export function registerImport(program: Command) {
  program
    .command('import')
    .description('stream an event file into Postgres (COPY); re-importing a file stores nothing twice')
    .argument('<file>', 'the file to import')
    .addOption(
      new Option('--format <format>', 'taobao (UserBehavior.csv), movielens (u.data) or csv (with a header)')
        .choices(IMPORT_FORMATS)
        .makeOptionMandatory(),
    )
    .option('--limit <n>', 'import at most this many events', parseInteger('--limit', 1))
    .option('--id-prefix <prefix>', 'prefix for user, item and category ids of taobao and movielens files')
    .option('--allow-empty', 'exit 0 when the file holds no event line (without it: exit 1)')
    .action(
      action(async (file: string, flags: ImportFlags) =>
        (await import('../commands/import')).importCommand(file, flags),
      ),
    );
}
