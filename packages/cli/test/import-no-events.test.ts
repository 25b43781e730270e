import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runElevens } from '../../../tests/support/service-processes';

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;
const HEADER = 'event_id,user_id,item_id,type,timestamp';

let infra: TestInfra;
let dir: string;

beforeAll(async () => {
  infra = await createTestInfra('cli-import-no-events');
  dir = mkdtempSync(join(tmpdir(), 'elevens-import-no-events-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra?.close();
});

/** `text` written to a file of this test's directory named `name`; its path. */
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const stderrLines = (stderr: string) => stderr.trim().split('\n');

// A nightly import scripted by an operator: its exit status must tell a truncated download from a real import.
// Each test imports files of its own, of events no other file holds: they run side by side.
describe.concurrent('elevens import of a file that holds no event', () => {
  it('fails an empty file in one line naming it, after its summary', async ({ expect }) => {
    const { code, stdout, stderr } = await runElevens(
      ['import', file('empty.csv', ''), '--format', 'csv'],
      infra.env,
    );
    expect(code, stdout + stderr).toBe(1);
    expect(stdout).toContain('imported empty.csv: 0 events read, 0 stored');
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderrLines(stderr)).toEqual([
      'empty.csv is empty (0 bytes): nothing imported (--allow-empty accepts a file without events)',
    ]);
  });

  it('fails a CSV with its header alone, and a taobao file of blank lines', async ({ expect }) => {
    const [header, blank] = await Promise.all([
      runElevens(['import', file('header.csv', `${HEADER}\n`), '--format', 'csv'], infra.env),
      runElevens(['import', file('blank.csv', '\n\n'), '--format', 'taobao'], infra.env),
    ]);
    expect(header.code, header.stdout + header.stderr).toBe(1);
    expect(stderrLines(header.stderr)).toEqual([
      'header.csv holds no event line (a header at most): nothing imported (--allow-empty accepts a file without events)',
    ]);

    expect(blank.code, blank.stdout + blank.stderr).toBe(1);
    expect(stderrLines(blank.stderr)).toEqual([
      'blank.csv holds no event line: nothing imported (--allow-empty accepts a file without events)',
    ]);
  });

  it('exits 0 on a file without events when --allow-empty says one may come', async ({ expect }) => {
    const files = [
      ['allowed-empty.csv', ''],
      ['allowed-header.csv', `${HEADER}\n`],
    ] as const;
    const runs = await Promise.all(
      files.map(([name, text]) =>
        runElevens(['import', file(name, text), '--format', 'csv', '--allow-empty'], infra.env),
      ),
    );
    for (const [index, { code, stdout, stderr }] of runs.entries()) {
      expect(code, stdout + stderr).toBe(0);
      expect(stdout).toContain(
        `imported ${files[index]![0]}: 0 events read, 0 stored, 0 already stored, 0 lines skipped`,
      );
    }
  });

  it('still fails a file whose every line was skipped under --allow-empty, with the count', async ({
    expect,
  }) => {
    const path = file(
      'future.csv',
      `${HEADER}\nf1,u1,i1,view,4102444800000\nf2,u1,i2,lookedat,1511658000000\n`,
    );
    const { code, stdout, stderr } = await runElevens(
      ['import', path, '--format', 'csv', '--allow-empty'],
      infra.env,
    );
    expect(code, stdout + stderr).toBe(1);
    expect(stdout).toContain('2 lines skipped');
    expect(stderrLines(stderr)).toEqual(['no line of future.csv is a csv event (2 skipped): check --format']);
  });

  it('exits 0 on a file of which some lines were skipped, reporting the counts', async ({ expect }) => {
    const path = file(
      'partly.csv',
      `${HEADER}\np1,u1,i1,view,1511658000000\np2,u1,i2,lookedat,1511658000000\n`,
    );
    const { code, stdout, stderr } = await runElevens(['import', path, '--format', 'csv'], infra.env);
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toContain(
      'imported partly.csv: 1 events read, 1 stored, 0 already stored, 1 lines skipped',
    );
    expect(stdout).toContain('skipped line 3: unknown type "lookedat"');
    expect(stderr).toBe('');
  });
});
