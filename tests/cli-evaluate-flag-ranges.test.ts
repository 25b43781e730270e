import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerEvaluate } from '../packages/cli/src/register/evaluate';
import { runElevens } from './support/service-processes';

/**
 * What `elevens evaluate <flags>` writes to stderr when commander refuses a flag, parsed in this process: the
 * refusal comes before the command's action, and a spawned CLI per case cost a second of start-up each.
 */
async function refusal(flags: string[]): Promise<string> {
  let stderr = '';
  const program = new Command('elevens')
    .exitOverride()
    .configureOutput({ writeErr: (text) => (stderr += text), writeOut: () => {} });
  registerEvaluate(program);
  const parsed = program.parseAsync(['evaluate', '--dataset', 'movielens', ...flags], { from: 'user' });
  await expect(parsed).rejects.toBeInstanceOf(CommanderError);
  return stderr;
}

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;

// Each value was taken before, and gave a table of meaningless numbers (a model of no neighbours, a history of
// no event, random ALS factors), or a stack trace from the algorithm that could not use it.
describe('elevens evaluate refuses a setting no build or api could use, in one line', () => {
  it.each([
    [['--max-lines', '0'], '--max-lines must be at least 1, got 0'],
    [['--neighbors', '0'], '--neighbors must be at least 1, got 0'],
    [['--neighbors', '-1'], '--neighbors must be at least 1, got -1'],
    [['--min-support', '0'], '--min-support must be at least 1, got 0'],
    [['--factors', '0'], '--factors must be at least 1, got 0'],
    [['--iterations', '0'], '--iterations must be at least 1, got 0'],
    [['--max-anchors', '0'], '--max-anchors must be at least 1, got 0'],
    [['--history-length', '-2'], '--history-length must be at least 1, got -2'],
    [['--half-life-days', '0'], '--half-life-days must be more than 0, got 0'],
    [['--alpha1', '-5'], '--alpha1 must be at least 0, got -5'],
    [['--alpha2', '0'], '--alpha2 must be more than 0, got 0'],
    [['--beta', '-1'], '--beta must be at least 0, got -1'],
    [['--history-half-life-hours', '0'], '--history-half-life-hours must be at least 1/60 (a minute), got 0'],
    [['--position-decay', '2'], '--position-decay must be at most 1, got 2'],
    [['--position-decay', '0'], '--position-decay must be at least 0.05, got 0'],
    [['--sequence-share', '-1'], '--sequence-share must be at least 0, got -1'],
  ])('%j', async (flags, message) => {
    // The first line says what is wrong; commander shows the command's help after it.
    expect((await refusal(flags)).split('\n')[0]).toContain(message);
  });

  it('the command itself: exit 1, the one line first, no stack trace, nothing on stdout', async () => {
    const { code, stdout, stderr } = await runElevens(
      ['evaluate', '--dataset', 'movielens', '--neighbors', '-1'],
      {},
    );
    expect(code, stdout + stderr).toBe(1);
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderr.split('\n')[0]).toContain('--neighbors must be at least 1, got -1');
    expect(stdout).toBe('');
  });
});
