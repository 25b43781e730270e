import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayFile } from '../packages/cli/src/commands/replay';
import { runElevens } from './support/service-processes';

const CLI = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

/** A stack frame line, or the dump of an error object, as Node prints an uncaught error. */
const ERROR_DUMP = /^\s+at |errno:|syscall:/m;

let infra: TestInfra;
let dir: string;

beforeAll(async () => {
  infra = await createTestInfra('cli-data-commands');
  dir = mkdtempSync(join(tmpdir(), 'elevens-cli-data-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra?.close();
});

// Each test runs the real binary on paths of its own: they run at once, their processes' start-ups overlapping.
describe.concurrent('elevens data commands, in an operator’s hands', () => {
  it('generate piped into a reader that stops early (`| head`) ends quietly, with status 0', async ({
    expect,
  }) => {
    const child = spawn(
      process.execPath,
      [CLI, 'generate', '--users', '100', '--items', '50', '--events', '500000', '--seed', '3'],
      { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // As `head -1` does: read the first chunk, then close the pipe.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).not.toMatch(ERROR_DUMP);
    expect(stderr).not.toContain('EPIPE');
    expect(stderr).not.toMatch(/^generated 500000 events/m);
    expect(code).toBe(0);
  }, 60_000);

  it('generate --out into a missing directory or onto a directory says so in one line', async ({
    expect,
  }) => {
    const outs = [join(dir, 'missing', 'events.csv'), dir];
    const results = await Promise.all(
      outs.map((out) =>
        runElevens(['generate', '--users', '5', '--items', '5', '--events', '5', '--out', out], {}),
      ),
    );
    for (const [n, result] of results.entries()) {
      const out = outs[n]!;
      expect(result.code).toBe(1);
      expect(result.stderr).not.toMatch(ERROR_DUMP);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining(`cannot write ${out}`)]);
    }
  }, 60_000);

  it('evaluate --file naming a directory says in one line that it is not a file', async ({ expect }) => {
    const result = await runElevens(['evaluate', '--dataset', 'taobao', '--file', dir], {});
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(ERROR_DUMP);
    expect(result.stderr.trim().split('\n')).toEqual([`cannot read ${dir}: not a file`]);
  }, 60_000);

  it('events prune and rebuild-live-state refuse a duration reaching before any date in one line', async ({
    expect,
  }) => {
    const results = await Promise.all(
      [
        ['events', 'prune', '--older-than', '99999999999999999999d'],
        ['events', 'rebuild-live-state', '--since', '99999999999999999999d'],
      ].map((args) => runElevens(args, infra.env)),
    );
    for (const result of results) {
      expect(result.code).toBe(1);
      expect(result.stderr).not.toMatch(ERROR_DUMP);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^--(older-than|since): /)]);
    }
  }, 60_000);
});

describe('elevens replay, pacing', () => {
  it('sends an event on schedule after waiting for a free request slot, not that wait later', async () => {
    // Every request takes 600 ms; two may be in flight. Events at 0, 100 and 200 ms fill both slots, so the
    // third waits for the first answer (at 600 ms); the fourth is due at 800 ms and must leave then, not
    // 600 ms after the third left.
    const arrivals = new Map<string, number>();
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        const { events } = JSON.parse(body) as { events: { eventId: string }[] };
        for (const event of events) arrivals.set(event.eventId, performance.now());
        setTimeout(() => {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ accepted: events.length, duplicates: 0, rejected: [] }));
        }, 600);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const file = join(dir, 'paced.csv');
      const start = Date.UTC(2026, 10, 11);
      writeFileSync(
        file,
        'event_id,user_id,item_id,type,timestamp\n' +
          [0, 100, 200, 800].map((ms, n) => `p${n},u1,i${n},view,${start + ms}`).join('\n') +
          '\n',
      );
      const report = await replayFile(file, {
        target: `http://127.0.0.1:${port}`,
        speed: 1,
        format: 'csv',
        concurrency: 2,
      });
      expect(report).toMatchObject({ events: 4, accepted: 4, errors: {} });
      const late = arrivals.get('p3')! - arrivals.get('p0')! - 800;
      expect(late).toBeLessThan(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);
});
