import { type Command, Option } from 'commander';
import type { LoadtestFlags } from '../commands/loadtest';
import { action } from '../run';

export function registerLoadtest(program: Command) {
  program
    .command('loadtest')
    .description(
      'rehearse a festival midnight: ramp recommendations, events and push decisions from baseline to peak and ' +
        'back, then write report.md and latency.svg',
    )
    .addOption(new Option('--scenario <name>', 'traffic shape').choices(['festival']).default('festival'))
    .option('--baseline <rps>', 'offered requests/s before and after the spike', '1000')
    .option('--peak <rps>', 'offered requests/s at midnight', '10000')
    .option('--duration <duration>', 'whole run, e.g. 60s or 5m', '60s')
    .option('--api <url>', 'api service base URL', 'http://127.0.0.1:3000')
    .option('--ingest <url>', 'ingest service base URL', 'http://127.0.0.1:3001')
    .addOption(
      new Option(
        '--key <secret>',
        'API key sent as a bearer token (scopes: recommendations:read, events:write, push:decide)',
      ).env('ELEVENS_API_KEY'),
    )
    .option('--out <dir>', 'directory for report.md and latency.svg', 'loadtest-report')
    .option('--mix <shares>', 'traffic shares, e.g. recommendations=70,events=25,push=5')
    .option('--users <n>', 'distinct user ids to spread requests over', '10000')
    .option('--items <n>', 'distinct item ids in events', '2000')
    .option('--connections <n>', 'most connections per traffic kind', '100')
    .action(
      action(async (flags: LoadtestFlags) => (await import('../commands/loadtest')).loadtestCommand(flags)),
    );
}
