import type { BuildFlags } from '@elevens/trainer';
import { type Command, Option } from 'commander';
import { action } from '../run';
import { BUILD_ALGORITHMS } from './choices';

export function registerBuild(program: Command) {
  program
    .command('build')
    .description(
      'build a model from the events in Postgres and publish it to Redis (flags override BUILD_* env); exits 0 ' +
        'when published, 2 when the quality gate refused it, 3 when another build of its line was running, 1 when ' +
        'the build failed, 130 or 143 when SIGINT or SIGTERM stopped it',
    )
    .option(
      '--model <line>',
      'model line to publish to (BUILD_MODEL; default: default); a line named for an algorithm builds it',
    )
    .addOption(
      new Option('--algorithm <name>', 'similarity algorithm (BUILD_ALGORITHM)').choices(BUILD_ALGORITHMS),
    )
    .option('--window <duration>', 'events considered, counted back from the newest, e.g. 90d (BUILD_WINDOW)')
    .option(
      '--weights <list>',
      'event type weights, e.g. view=1,fav=2,cart=3,purchase=5 (BUILD_TYPE_WEIGHTS)',
    )
    .option('--half-life <days>', 'time-decay half-life in days (BUILD_HALF_LIFE_DAYS)')
    .option('--k <n>', 'neighbours kept per item (BUILD_NEIGHBORS)')
    .option('--min-support <n>', 'co-occurring users a pair needs (BUILD_MIN_SUPPORT)')
    .option('--max-items-per-user <n>', 'most recent distinct items kept per user (BUILD_MAX_ITEMS_PER_USER)')
    .option('--max-users-per-item <n>', 'users sampled per item (BUILD_MAX_USERS_PER_ITEM)')
    .option('--force', 'publish even when the quality gate refuses the model (BUILD_GATE_FORCE=true)')
    .option('--every <duration>', 'keep running, one build per interval, e.g. 15m')
    .action(action(async (flags: BuildFlags) => (await import('../commands/build')).buildCommand(flags)));
}
