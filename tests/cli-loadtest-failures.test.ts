import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { failureVerdict, formatLatencyMs, runLoad, summarize } from '../packages/cli/src/loadtest';
import { runElevens } from './support/service-processes';

/** A stack frame line, as Node prints an uncaught error. */
const STACK_FRAME = /^\s+at /m;
/** What the bin prints first when it runs the sources: not the command's own output. */
const SOURCE_NOTICE = /^elevens: no compiled CLI.*\n/m;
const stderrLines = (stderr: string) => stderr.replace(SOURCE_NOTICE, '').trim().split('\n');

/** An api that wants keys and lets a key of `recommendations:read` make one request a minute. */
let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let apiUrl: string;
let dir: string;

beforeAll(async () => {
  infra = await createTestInfra('cli-loadtest-failures');
  api = await buildApiApp({
    config: loadApiConfig({
      ...infra.env,
      AUTH_REQUIRED: 'true',
      LOG_LEVEL: 'silent',
      RATE_LIMIT_WINDOW: '1m',
      RATE_LIMIT_RECOMMENDATIONS_READ: '1',
    }),
  });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  dir = mkdtempSync(join(tmpdir(), 'elevens-loadtest-failures-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await api?.close();
  await infra?.close();
});

/** `elevens loadtest` of recommendations only, 1 s at 20 req/s, against the api above. */
const load = (out: string, flags: string[], env: Record<string, string> = {}) =>
  runElevens(
    [
      'loadtest',
      ...['--baseline', '20', '--peak', '20', '--duration', '1s', '--mix', 'recommendations=1'],
      ...['--api', apiUrl, '--ingest', 'http://127.0.0.1:1', '--out', out, ...flags],
    ],
    { ...infra.env, ELEVENS_API_KEY: '', ...env },
  );

// The suites run side by side. The two runs against the api go in order: the second spends its key's one request.
describe.concurrent('elevens loadtest, refused by the target', () => {
  it('refuses a base URL with a path in one line (requests go to the service root)', async ({ expect }) => {
    const { code, stderr } = await load(join(dir, 'path'), ['--api', `${apiUrl}/elevens`]);
    expect(code).toBe(1);
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stderrLines(stderr)).toEqual([
      `--api must be a base URL without a path, such as http://127.0.0.1:3000, got "${apiUrl}/elevens"`,
    ]);
  });

  it.sequential('stops before the run in one line when the api wants a key and none was given', async ({
    expect,
  }) => {
    const out = join(dir, 'no-key');
    const { code, stdout, stderr } = await load(out, []);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(STACK_FRAME);
    const lines = stderrLines(stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^the api at ${apiUrl} answered 401 to GET /v1/recommendations: .+: pass --key or set ELEVENS_API_KEY$`,
      ),
    );
    expect(existsSync(join(out, 'report.md'))).toBe(false);
  });

  it.sequential('reads the key from ELEVENS_API_KEY, reports failures by status with the first message, and exits 1 when every request failed', async ({
    expect,
  }) => {
    const key = await createApiKey(infra.pool, { name: 'loadtest', scopes: ['recommendations:read'] });
    // The api knows the key once it reloads its keys, not when the CLI starts (a few tens of milliseconds later).
    await api.reloadApiKeys();
    const out = join(dir, 'limited');
    // The check before the run spends the key's one request: every request of the run answers 429.
    const { code, stdout, stderr } = await load(out, [], { ELEVENS_API_KEY: key.secret });
    expect(stderr).not.toMatch(STACK_FRAME);
    expect(stdout).toMatch(/^20 requests: 0 ok, 0 shed, 20 rate-limited, 0 errors;/m);
    expect(stdout).toMatch(/^ {2}recommendations: 20 answered 429: .+$/m);
    expect(stderrLines(stderr).at(-1)).toBe(
      'all 20 requests answered 429: give the load-test key a rate limit above the peak (RATE_LIMIT_*)',
    );
    expect(code).toBe(1);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('## Failures');
    expect(report).toMatch(/\| recommendations \| 429 \| 20 \| .+ \|/);
  });
});

describe.concurrent('runLoad against a service that never answers', () => {
  it('ends about its timeout after the last request was due, however many wait for a connection', async ({
    expect,
  }) => {
    const held: ServerResponse[] = [];
    const server = createServer((request, response) => {
      request.resume();
      held.push(response);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const startedAt = performance.now();
      // 40 requests due within 1 s on one connection: one at a time, each timing out after 1 s, would take 40 s.
      const log = await runLoad({
        steps: [{ phase: 'only', startMs: 0, durationMs: 1_000, rate: 40 }],
        mix: { recommendations: 1, events: 0, push: 0 },
        urls: { api: url, ingest: url },
        population: { users: 10, items: 10 },
        maxConnections: 1,
        timeoutSeconds: 1,
      });
      expect(performance.now() - startedAt).toBeLessThan(5_000);
      expect(log.length).toBe(40);
      expect([...log.failures.values()]).toEqual([
        { kind: 'recommendations', answer: 'no answer', count: 40, message: 'no answer within 1 s' },
      ]);
      const total = summarize(log, () => true);
      expect(formatLatencyMs(total.p99)).toBe('–');
      expect(failureVerdict(total, [...log.failures.values()])).toBe(
        'all 40 requests got no answer: no answer within 1 s',
      );
    } finally {
      for (const response of held) response.destroy();
      server.close();
    }
  }, 60_000);
});
