import { type Command, Option } from 'commander';
import type { ReplayFlags } from '../commands/replay';
import { action } from '../run';

export function registerReplay(program: Command) {
  program
    .command('replay')
    .description(
      'send a time-ordered event file to the ingest API at a multiple of real time and report rates',
    )
    .argument('<file>', 'taobao UserBehavior.csv (time-ordered), or a CSV as `elevens generate` writes it')
    .option('--speed <x>', 'multiple of real time', '60')
    .option('--target <url>', 'ingest base URL', 'http://127.0.0.1:3001')
    .addOption(new Option('--format <format>', 'file format').choices(['taobao', 'csv']).default('taobao'))
    .option('--limit <n>', 'send at most this many events')
    .option('--batch-size <n>', 'events per request at most', '500')
    .option('--concurrency <n>', 'requests in flight at most', '16')
    .option(
      '--retry-for <duration>',
      'how long a batch answered 429 or 503 is sent again (0s: never; at most 24d)',
      '60s',
    )
    .addOption(new Option('--api-key <key>', 'API key with events:write').env('ELEVENS_API_KEY'))
    .option('--allow-empty', 'exit 0 when the file holds no event line (without it: exit 1)')
    .action(
      action(async (file: string, flags: ReplayFlags) =>
        (await import('../commands/replay')).replayCommand(file, flags),
      ),
    );
}
