import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runElevens } from './support/service-processes';

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;
/** Nothing listens here: a replay that tried to send would fail, not pass unseen. */
const TARGET = 'http://127.0.0.1:1';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'elevens-replay-no-events-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `text` written to a file of this test's directory named `name`; its path. */
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const replay = (path: string, ...flags: string[]) =>
  runElevens(['replay', path, '--target', TARGET, ...flags], {});

// A replay scripted by an operator: its exit status must tell a truncated download from a real replay.
// Each test runs the real binary on a file of its own: they run at once, their start-ups overlapping.
describe.concurrent('elevens replay of a file that holds no event', () => {
  it('fails an empty file in one line naming it, after its report', async ({ expect }) => {
    const { code, stdout, stderr } = await replay(file('empty.csv', ''));
    expect(code, stdout + stderr).toBe(1);
    expect(stdout).toContain('replayed 0 events');
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderr.trim().split('\n')).toEqual([
      'empty.csv is empty (0 bytes): nothing replayed (--allow-empty accepts a file without events)',
    ]);
  });

  it('fails a CSV with its header alone', async ({ expect }) => {
    const { code, stdout, stderr } = await replay(
      file('header.csv', 'event_id,user_id,item_id,type,timestamp\n'),
      '--format',
      'csv',
    );
    expect(code, stdout + stderr).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      'header.csv holds no event line (a header at most): nothing replayed (--allow-empty accepts a file without events)',
    ]);
  });

  it('fails a file of which every line was skipped, --allow-empty or not', async ({ expect }) => {
    const movielens = file('u.data', '196\t242\t3\t881250949\n186\t302\t3\t891717742\n');
    const runs = await Promise.all([[], ['--allow-empty']].map((flags) => replay(movielens, ...flags)));
    for (const { code, stdout, stderr } of runs) {
      expect(code, stdout + stderr).toBe(1);
      expect(stdout).toContain('2 lines skipped, not sent');
      expect(stderr.trim().split('\n')).toEqual([
        'no line of u.data is a taobao event (2 skipped): check --format',
      ]);
    }
  });

  it('exits 0 on a file without event lines when --allow-empty says one may come', async ({ expect }) => {
    const { code, stdout, stderr } = await replay(file('allowed.csv', '\n'), '--allow-empty');
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toContain('replayed 0 events in 0 requests');
  });
});
