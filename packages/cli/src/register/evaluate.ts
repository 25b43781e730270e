import { type Command, InvalidArgumentError, Option } from 'commander';
import type { EvaluateFlags } from '../commands/evaluate';
import { action, parseInteger } from '../run';
import { BUILD_ALGORITHMS, DATASET_NAMES } from './choices';

/** Where a number flag may lie: the range of the BUILD_* or RECS_* variable it stands for. */
interface NumberRange {
  min?: number;
  /** `min` itself refused */
  aboveMin?: boolean;
  /** how `min` reads in a message, when its digits would not say it */
  minText?: string;
  max?: number;
}

/** A flag's number parser; InvalidArgumentError, as `parseInteger` explains, so a bad value is one line. */
const parseNumber =
  (name: string, { min = Number.NEGATIVE_INFINITY, aboveMin = false, minText, max }: NumberRange = {}) =>
  (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a number, got ${JSON.stringify(value)}`);
    if (aboveMin ? n <= min : n < min)
      throw new InvalidArgumentError(
        `${name} must be ${aboveMin ? 'more than' : 'at least'} ${minText ?? min}, got ${n}`,
      );
    if (max !== undefined && n > max)
      throw new InvalidArgumentError(`${name} must be at most ${max}, got ${n}`);
    return n;
  };

export function registerEvaluate(program: Command) {
  program
    .command('evaluate')
    .description(
      'offline evaluation: temporal leave-last-out (or next-event) split, model built as `elevens build` does, ' +
        'every held-out user ranked by the serving code; HR@10, NDCG@10, Recall@20, MRR@10, coverage@10 vs popularity',
    )
    .addOption(
      new Option('--dataset <name>', 'where the events come from')
        .choices(DATASET_NAMES)
        .default('movielens'),
    )
    .option('--file <path>', 'the dataset file (default: the copy in ../shared/data)')
    .option('--max-lines <n>', 'read only the first n lines of the file', parseInteger('--max-lines', 1))
    .addOption(
      new Option(
        '--target <type>',
        'held-out item: a purchase, any event, or auto (purchase when the data has any)',
      )
        .choices(['purchase', 'any', 'auto'])
        .default('auto'),
    )
    .addOption(
      new Option('--protocol <kind>', 'default: next-event for taobao, leave-last-out otherwise').choices([
        'leave-last-out',
        'next-event',
      ]),
    )
    .addOption(
      new Option('--algorithm <name>', 'similarity algorithm (default: BUILD_ALGORITHM)').choices(
        BUILD_ALGORITHMS,
      ),
    )
    .option('--neighbors <k>', 'neighbours per item', parseInteger('--neighbors', 1))
    .option('--min-support <n>', 'minimum co-occurring users per pair', parseInteger('--min-support', 1))
    .option(
      '--half-life-days <d>',
      'build: event weight half-life',
      parseNumber('--half-life-days', { min: 0, aboveMin: true }),
    )
    .option('--alpha1 <x>', 'swing: user-activity smoothing', parseNumber('--alpha1', { min: 0 }))
    .option(
      '--alpha2 <x>',
      'swing: pair-overlap smoothing',
      parseNumber('--alpha2', { min: 0, aboveMin: true }),
    )
    .option('--beta <x>', 'swing: user-activity exponent', parseNumber('--beta', { min: 0 }))
    .option('--factors <n>', 'ALS latent dimensions', parseInteger('--factors', 1))
    .option('--iterations <n>', 'ALS rounds', parseInteger('--iterations', 1))
    .option(
      '--history-half-life-hours <h>',
      'serving: history recency half-life',
      parseNumber('--history-half-life-hours', { min: 1 / 60, minText: '1/60 (a minute)' }),
    )
    .option(
      '--position-decay <x>',
      'serving: weight of each history item relative to the next newer one',
      parseNumber('--position-decay', { min: 0.05, max: 1 }),
    )
    .option(
      '--sequence-share <x>',
      'serving: share of the anchor weight that follows the sequence (the rest: the whole history)',
      parseNumber('--sequence-share', { min: 0, max: 1 }),
    )
    .option('--max-anchors <n>', 'serving: history items used as anchors', parseInteger('--max-anchors', 1))
    .option(
      '--history-length <n>',
      'serving: recent events read per user',
      parseInteger('--history-length', 1),
    )
    .option(
      '--ratings-as-purchases',
      'movielens: every rating is a purchase (default: 4+ stars, else a view)',
    )
    .option(
      '--report <file>',
      'run the whole comparison on MovieLens and Taobao and write its tables into <file>',
    )
    .option(
      '--served <api-url>',
      'ask the running api for every evaluated user and score its answers beside the offline ones',
    )
    .option(
      '--ingest <ingest-url>',
      'with --served: first post the train events through this ingest, build and wait until the api serves the model',
    )
    .option('--api-key <secret>', 'with --served: the API key (default: ELEVENS_API_KEY)')
    .action(
      action(async (flags: EvaluateFlags) => (await import('../commands/evaluate')).evaluateCommand(flags)),
    );
}
