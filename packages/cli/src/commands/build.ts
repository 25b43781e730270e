import { type BuildReport, loadBuildConfig, runBuild } from '@elevens/build';
import { parseDuration } from '@elevens/config';
import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { openBatchInfra } from '../infra';
import { createCliLogger } from '../logger';
import { action, UserError } from '../run';

interface BuildFlags {
  algorithm?: string;
  window?: string;
  every?: string;
}

const formatReport = (r: BuildReport) =>
  `published model ${r.version} (${r.algorithm}): ${r.events} events, ${r.users} users, ${r.items} items; ` +
  Object.entries(r.phases)
    .map(([phase, s]) => `${phase} ${s.toFixed(2)}s`)
    .join(', ') +
  `; peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`;

export function registerBuild(program: Command) {
  program
    .command('build')
    .description('build a model from the events in Postgres and publish it to Redis')
    .addOption(
      new Option('--algorithm <name>', 'similarity algorithm').choices([
        'cosine',
        'jaccard',
        'llr',
        'swing',
        'als',
      ]),
    )
    .option('--window <duration>', 'events considered, counted back from the newest (e.g. 90d)')
    .option('--every <duration>', 'keep running, one build per interval (e.g. 15m)')
    .action(
      action(async (flags: BuildFlags) => {
        const config = loadBuildConfig({
          ...process.env,
          ...(flags.algorithm ? { BUILD_ALGORITHM: flags.algorithm } : {}),
          ...(flags.window ? { BUILD_WINDOW: flags.window } : {}),
        });
        const everyMs = flags.every ? parseEvery(flags.every) : null;
        const infra = openBatchInfra(config);
        const logger = createCliLogger('build', config.LOG_LEVEL);
        const tty = process.stderr.isTTY === true;
        const runOnce = async () => {
          const bar = tty
            ? new cliProgress.SingleBar(
                { format: 'build {phase} | {events} events | {duration_formatted}', stream: process.stderr },
                cliProgress.Presets.shades_classic,
              )
            : null;
          bar?.start(1, 0, { phase: 'start', events: 0 });
          try {
            const report = await runBuild(
              {
                ...infra,
                log: (message, fields) => {
                  if (!tty) logger.info(fields ?? {}, message);
                },
                onPhase: (phase, progress) => bar?.update(0, { phase, ...(progress ?? {}) }),
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
          await runOnce();
          while (everyMs !== null) {
            await new Promise((resolve) => setTimeout(resolve, everyMs));
            await runOnce().catch((error: unknown) => logger.error({ err: error }, 'build failed'));
          }
        } finally {
          await infra.close();
        }
      }),
    );
}

function parseEvery(text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UserError(`--every: ${(error as Error).message}`);
  }
}
