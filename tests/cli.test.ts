import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateCatalog } from '@elevens/generator';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

async function elevens(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run('node', [bin, ...args], {
      env: { ...process.env, ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let infra: TestInfra;
beforeAll(async () => {
  infra = await createTestInfra('cli');
});
afterAll(async () => {
  await infra?.close();
});

// The commands share nothing but this file's database, which only the demo writes: they run side by side.
describe.concurrent('elevens CLI', () => {
  it('lists its commands', async ({ expect }) => {
    const { code, stdout } = await elevens(['--help']);
    expect(code).toBe(0);
    for (const command of ['migrate', 'serve', 'build', 'demo']) expect(stdout).toContain(command);
    expect(stdout).toContain('serve api');
    expect(stdout).toContain('serve ingest');
  });

  it('stops with one line naming a bad variable', async ({ expect }) => {
    const { code, stderr } = await elevens(['serve', 'api'], { PORT: 'eighty', REDIS_URL: 'http://nope' });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^elevens api: invalid environment: /);
    expect(lines[0]).toContain('PORT="eighty"');
    expect(lines[0]).toContain('REDIS_URL="http://nope"');
  });

  it('says in one line when Postgres is unreachable, and how to start it', async ({ expect }) => {
    const { code, stderr } = await elevens(['demo', '--once'], {
      DATABASE_URL: 'postgres://root@127.0.0.1:1/elevens',
    });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/Postgres is not reachable at .*Start it/);
  });

  it('runs the demo end to end and tells its story in titles: a returning shopper, then a cold start', async ({
    expect,
  }) => {
    const { code, stdout, stderr } = await elevens(
      [
        'demo',
        '--once',
        '--users',
        '200',
        '--items',
        '150',
        '--events',
        '6000',
        '--api-port',
        '0',
        '--ingest-port',
        '0',
      ],
      infra.env,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/catalog: 150 items in 5 categories \(Running shoes, Socks, /);
    expect(stdout).toMatch(/events: 6000 accepted/);
    expect(stdout).toMatch(/built model \S+ \(\w+\) from 6000 events/);

    const titles = new Set([...generateCatalog({ items: 150, seed: 11 })].map((item) => item.title));
    const titleAt = (line: string, pattern: RegExp) => line.match(pattern)?.[1];
    // The services' own log lines (JSON) may come in between; the story is the rest.
    const story = stdout
      .split('\n')
      .filter((line) => !line.startsWith('{'))
      .join('\n');
    const [, shopper, answer] = story.split(/\n\n/);
    const shopperLines = shopper!.split('\n');
    expect(shopperLines[0]).toMatch(
      /^elevens demo: a returning shopper, u\d{6} \(\d+ events, \d+ purchases?\)/,
    );
    const history = shopperLines.slice(1, 4);
    expect(history).toHaveLength(3);
    for (const line of history) {
      expect(titles).toContain(titleAt(line, /^ {4}(?:viewed|bought) {2}(.+?) {2,}/));
    }
    expect(shopperLines[4]).toMatch(/limit=5 → personalized$/);
    const recommendations = shopperLines.slice(5);
    expect(recommendations).toHaveLength(5);
    for (const line of recommendations) {
      expect(titles).toContain(titleAt(line, /^ {4}\d\. {2}(.+?) {2,}/));
      const score = titleAt(line, / {2}(\S+) {2,}because you (?:viewed|bought) /)!;
      expect(Number(score).toPrecision(3)).toBe(score);
      expect(titles).toContain(titleAt(line, /because you (?:viewed|bought) (.+)$/));
    }
    expect(recommendations.some((line) => line.includes('because you viewed '))).toBe(true);

    expect(answer).toMatch(/cold start\):\n.*userId=first-visit&limit=5 → fallback \((popular|trending)/);
    const fallback = answer!.trimEnd().split('\n').slice(2);
    expect(fallback).toHaveLength(5);
    for (const line of fallback) {
      expect(titles).toContain(titleAt(line, /^ {4}\d\. {2}(.+?) {2,}/));
      expect(line).toMatch(/ (popular|trending)$/);
    }
  });
});
