import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { formatReplayReport, replayFile } from '../packages/cli/src/commands/replay';
import { runElevens } from './support/service-processes';

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'elevens-replay-retry-'));
  file = join(dir, 'events.csv');
  const start = Date.UTC(2026, 10, 11);
  writeFileSync(
    file,
    'event_id,user_id,item_id,type,timestamp\n' +
      [0, 1, 2].map((n) => `r${n},u1,i${n},view,${start + n}`).join('\n') +
      '\n',
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * An ingest stand-in: `answer` decides each request's reply from its number (0 first); the arrival time of each
 * request is kept.
 */
async function withIngest(
  answer: (n: number, response: ServerResponse, events: unknown[]) => void,
  run: (url: string, arrivals: number[]) => Promise<void>,
) {
  const arrivals: number[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      arrivals.push(performance.now());
      answer(arrivals.length - 1, response, (JSON.parse(body) as { events: unknown[] }).events);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const json = (
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) => {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
};

/** How replay waits on a Retry-After that is no delay-seconds: Date.parse read these as dates in 2001. */
const NOT_DELAY_SECONDS =
  'after its default second: no delay-seconds (Date.parse read it as a date in 2001: sent again at once)';

// Each test has an ingest stand-in of its own and mostly waits on the clock (Retry-After): they run side by side.
describe.concurrent('elevens replay, when ingest asks it to come back later', () => {
  it.for<[string, string]>([
    ['1', 'after Retry-After'],
    ['-1', NOT_DELAY_SECONDS],
    ['1.5', NOT_DELAY_SECONDS],
    ['5, 10', NOT_DELAY_SECONDS],
  ])(
    'sends a batch answered 503 with Retry-After %j again %s, and reports it delivered',
    { timeout: 20_000 },
    async ([retryAfter], { expect }) => {
      await withIngest(
        (n, response, events) =>
          n === 0
            ? json(
                response,
                503,
                { error: 'unavailable', message: 'retry shortly' },
                { 'retry-after': retryAfter },
              )
            : json(response, 200, { accepted: events.length, duplicates: 0, rejected: [] }),
        async (url, arrivals) => {
          const report = await replayFile(file, { target: url, speed: 1_000, format: 'csv' });
          expect(report).toMatchObject({ events: 3, accepted: 3, retries: 1, undelivered: 0, errors: {} });
          expect(arrivals).toHaveLength(2);
          expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(950);
        },
      );
    },
  );

  it('counts a request unanswered within the time limit as failed, instead of waiting for ever', async ({
    expect,
  }) => {
    await withIngest(
      () => {},
      async (url) => {
        const started = performance.now();
        const report = await replayFile(file, { target: url, speed: 1_000, format: 'csv', timeoutMs: 500 });
        expect(report).toMatchObject({ events: 3, accepted: 0, undelivered: 3, errors: { timeout: 1 } });
        expect(performance.now() - started).toBeLessThan(5_000);
      },
    );
  }, 20_000);

  it.for<[string, string, RegExp]>([
    ['soon', 'not a duration', /^--retry-for: not a duration: "soon"/],
    [
      '30d',
      'longer than a timer waits (a Retry-After that long was not waited: resent without pause)',
      /^--retry-for must be at most 24d .*got "30d"/,
    ],
  ])(
    'refuses a --retry-for of %j, %s, in one line before sending anything',
    { timeout: 30_000 },
    async ([retryFor, , message], { expect }) => {
      await withIngest(
        (_n, response, events) =>
          json(response, 200, { accepted: events.length, duplicates: 0, rejected: [] }),
        async (url, arrivals) => {
          const { code, stderr } = await runElevens(
            ['replay', file, '--format', 'csv', '--target', url, '--retry-for', retryFor],
            {},
          );
          expect(code).toBe(1);
          expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
          expect(arrivals).toEqual([]);
        },
      );
    },
  );

  it('takes a --retry-for of 24d, which a timer waits, and replays', async ({ expect }) => {
    await withIngest(
      (_n, response, events) => json(response, 200, { accepted: events.length, duplicates: 0, rejected: [] }),
      async (url, arrivals) => {
        const { code, stdout } = await runElevens(
          ['replay', file, '--format', 'csv', '--target', url, '--speed', '1000', '--retry-for', '24d'],
          {},
        );
        expect(code).toBe(0);
        expect(stdout).toMatch(/accepted 3,/);
        expect(arrivals).toHaveLength(1);
      },
    );
  }, 30_000);
});

// Its verdict hangs on when the retries fall within --retry-for: it runs alone, not beside the tests above.
describe('elevens replay, when ingest keeps answering 429', () => {
  it('gives up on a batch still answered 429 once retrying would outlast --retry-for, naming what was lost', async ({
    expect,
  }) => {
    await withIngest(
      (_n, response) =>
        json(response, 429, { error: 'rate_limited', message: 'slow down' }, { 'retry-after': '1' }),
      async (url, arrivals) => {
        const report = await replayFile(file, {
          target: url,
          speed: 1_000,
          format: 'csv',
          retryForMs: 2_500,
        });
        expect(report).toMatchObject({
          events: 3,
          accepted: 0,
          retries: 2,
          undelivered: 3,
          errors: { '429': 1 },
        });
        expect(arrivals).toHaveLength(3);
        expect(formatReplayReport(report)).toMatch(/3 events not delivered/);
      },
    );
  }, 20_000);
});
