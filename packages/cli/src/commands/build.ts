import {
  BUILD_ALGORITHMS,
  type BuildFlags,
  type BuildProgress,
  type BuildReport,
  buildEnvFromFlags,
  loadBuildConfig,
  parseEvery,
  runBuild,
} from '@elevens/trainer';
import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { openBatchInfra, requireServices } from '../infra';
import { createCliLogger } from '../logger';
import { action, UserError } from '../run';

const formatPhases = (phases: Record<string, number>) =>
  Object.entries(phases)
    .map(([phase, s]) => `${phase} ${s.toFixed(2)}s`)
    .join(', ');

const formatReport = (r: BuildReport) =>
  `${r.status === 'published' ? 'published' : 'rejected'} model ${r.version} (line ${r.model}, ${r.algorithm}): ${r.events} events, ` +
  `${r.users} users, ${r.items} items in ${r.seconds.toFixed(2)}s (${formatPhases(r.phases)}); ` +
  `peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`;

/**
 * A progress bar on stderr: the bar tracks the current phase's measurable progress (events read, lists written),
 * the text shows the finished phases with their durations. Shared with `elevens demo`.
 */
export function buildProgressBar() {
  const bar = new cliProgress.SingleBar(
    {
      format: 'build {phase} [{bar}] {detail} | {done}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const done: string[] = [];
  let phase = 'start';
  bar.start(1, 0, { phase, detail: '', done: '' });
  return {
    update(progress: BuildProgress) {
      switch (progress.kind) {
        case 'phase-start':
          phase = progress.phase;
          bar.setTotal(1);
          bar.update(0, { phase, detail: '', done: done.join(' ') });
          break;
        case 'phase-end':
          done.push(`${progress.phase} ${progress.seconds.toFixed(1)}s`);
          bar.update(1, { phase, detail: '', done: done.join(' ') });
          break;
        case 'events':
          bar.update(0, { phase, detail: `${progress.events.toLocaleString('en')} events` });
          break;
        case 'publish':
          bar.setTotal(Math.max(1, progress.total));
          bar.update(progress.written, {
            phase,
            detail: `${progress.part} ${progress.written}/${progress.total}`,
          });
          break;
      }
    },
    stop: () => bar.stop(),
  };
}

export function registerBuild(program: Command) {
  program
    .command('build')
    .description(
      'build a model from the events in Postgres and publish it to Redis (flags override BUILD_* env)',
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
    .action(
      action(async (flags: BuildFlags) => {
        const config = loadBuildConfig(buildEnvFromFlags(process.env, flags));
        let everyMs: number | null;
        try {
          everyMs = parseEvery(flags.every);
        } catch (error) {
          throw new UserError((error as Error).message);
        }
        await requireServices(config);
        const infra = openBatchInfra(config);
        const logger = createCliLogger('build', config.LOG_LEVEL);
        const tty = process.stderr.isTTY === true;
        const runOnce = async () => {
          const bar = tty ? buildProgressBar() : null;
          try {
            const report = await runBuild(
              {
                ...infra,
                log: (message, fields) => {
                  if (!tty) logger.info(fields ?? {}, message);
                },
                onProgress: (progress) => {
                  bar?.update(progress);
                  if (!tty && progress.kind === 'phase-end')
                    logger.info({ phase: progress.phase, seconds: progress.seconds }, 'build phase done');
                },
              },
              config,
            );
            bar?.stop();
            console.log(formatReport(report));
          } catch (error) {
            bar?.stop();
            throw error;
          }
        };
        try {
          if (everyMs === null) {
            await runOnce();
            return;
          }
          // A schedule outlives any one build: the first failing (a store restarting as the stack comes up) must
          // not end it, or the job would exit and its restart policy begin the schedule again at once.
          for (;;) {
            await runOnce().catch((error: unknown) => logger.error({ err: error }, 'build failed'));
            await new Promise((resolve) => setTimeout(resolve, everyMs));
          }
        } finally {
          await infra.close();
        }
      }),
    );
}
