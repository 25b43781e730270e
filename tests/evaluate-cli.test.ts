import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeMovielensFixture, writeTaobaoFixture } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

async function elevens(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The users column of each row of the printed metric table, by model name. */
function usersByModel(stdout: string): Map<string, number> {
  // after the header and the alignment row
  const rows = stdout
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2);
  return new Map(
    rows.map((row) => {
      const [name, users] = row
        .split('|')
        .map((cell) => cell.trim())
        .slice(1, 3);
      return [name!, Number(users)];
    }),
  );
}

// The files `elevens evaluate` reads from ../shared/data, generated in their formats: the command is tested
// without the real data.
// The evaluations read files of their own and store nothing: they run side by side.
describe.concurrent('elevens evaluate --file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'elevens-evaluate-cli-'));
    writeMovielensFixture(join(dir, 'u.data'), { lines: 2_500, users: 150, items: 300, seed: 17 });
    writeTaobaoFixture(join(dir, 'UserBehavior.csv'), { lines: 3_000, users: 600, items: 400, seed: 17 });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.for([
    ['movielens', 'u.data', 2_500, 'temporal leave-last-out'],
    ['taobao', 'UserBehavior.csv', 3_000, 'next event'],
  ] as const)(
    'scores a %s file against the popularity baseline',
    async ([dataset, file, lines, protocol], { expect }) => {
      const { code, stdout, stderr } = await elevens([
        'evaluate',
        '--dataset',
        dataset,
        '--file',
        join(dir, file),
        '--algorithm',
        'swing',
      ]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout.split('\n')[0]).toMatch(new RegExp(`^${dataset}: ${lines} events, ${protocol} \\(`));
      const users = usersByModel(stdout);
      expect([...users.keys()]).toEqual(['popularity (baseline)', 'swing']);
      expect(users.get('swing')).toBeGreaterThan(0);
      expect(users.get('swing')).toBe(users.get('popularity (baseline)'));
    },
  );

  it('names the missing file in one line', async ({ expect }) => {
    const missing = join(dir, 'absent.data');
    const { code, stdout, stderr } = await elevens(['evaluate', '--dataset', 'movielens', '--file', missing]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`movielens: no file at ${missing} (pass --file)\n`);
  });
});
