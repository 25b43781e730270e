import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runElevens } from '../../../tests/support/service-processes';
import {
  DEFAULT_MIX,
  dueRequests,
  FESTIVAL_PHASES,
  festivalSteps,
  type LoadStep,
  NO_RESPONSE,
  niceCeiling,
  parseMix,
  quantileOfSorted,
  runLoad,
  SampleLog,
  summarize,
  TRAFFIC_KINDS,
} from '../src/loadtest';

describe('festivalSteps', () => {
  it('covers the duration with contiguous steps whose rates stay within baseline and peak', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 0, max: 50_000 }),
        fc.integer({ min: 100, max: 3_600_000 }),
        fc.integer({ min: 1, max: 10 }),
        (baseline, extra, durationMs, rampSteps) => {
          const peak = baseline + extra;
          const steps = festivalSteps({ baseline, peak, durationMs, rampSteps });
          expect(steps[0]!.startMs).toBe(0);
          for (let i = 1; i < steps.length; i++) {
            expect(steps[i]!.startMs).toBe(steps[i - 1]!.startMs + steps[i - 1]!.durationMs);
          }
          const last = steps.at(-1)!;
          expect(last.startMs + last.durationMs).toBe(durationMs);
          for (const s of steps) {
            expect(s.durationMs).toBeGreaterThan(0);
            expect(s.rate).toBeGreaterThanOrEqual(baseline);
            expect(s.rate).toBeLessThanOrEqual(peak);
          }
          expect(steps.filter((s) => s.phase === 'midnight').every((s) => s.rate === peak)).toBe(true);
          expect(new Set(steps.map((s) => s.phase)).size).toBeLessThanOrEqual(FESTIVAL_PHASES.length);
        },
      ),
    );
  });

  it('ramps up monotonically in the countdown and down in the cool-down', () => {
    const steps = festivalSteps({ baseline: 1000, peak: 10_000, durationMs: 60_000, rampSteps: 5 });
    const up = steps.filter((s) => s.phase === 'countdown').map((s) => s.rate);
    const down = steps.filter((s) => s.phase === 'cool-down').map((s) => s.rate);
    expect(up).toEqual([1900, 3700, 5500, 7300, 9100]);
    expect(down).toEqual([...up].reverse());
  });
});

/** Contiguous steps from 0, of the given durations and rates. */
const contiguous = (shape: readonly { durationMs: number; rate: number }[]): LoadStep[] => {
  let startMs = 0;
  return shape.map(({ durationMs, rate }, i) => {
    const step = { phase: `s${i}`, startMs, durationMs, rate };
    startMs += durationMs;
    return step;
  });
};

/** Requests of one kind offered by `atMs` into the run: its share of each step's rate, up to that time. */
const offeredBy = (steps: readonly LoadStep[], share: number, atMs: number) =>
  steps.reduce(
    (sum, s) => sum + (s.rate * share * Math.min(s.durationMs, Math.max(0, atMs - s.startMs))) / 1000,
    0,
  );

describe('dueRequests: the schedule of one kind over the steps', () => {
  it('gives each kind its share of every step within one request, and of the run within half of one', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            durationMs: fc.integer({ min: 1, max: 10_000 }),
            rate: fc.double({ min: 0.01, max: 100, noNaN: true }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }),
        (shape, weights) => {
          const steps = contiguous(shape);
          const total = weights.reduce((a, b) => a + b, 0);
          fc.pre(total > 0);
          const sentPerStep = steps.map(() => 0);
          let sentInRun = 0;
          for (const weight of weights) {
            const share = weight / total;
            const due = [...dueRequests(steps, share)];
            const perStep = steps.map(() => 0);
            for (const [n, { atMs, step }] of due.entries()) {
              const s = steps[step]!;
              expect(atMs).toBeGreaterThanOrEqual(s.startMs);
              expect(atMs).toBeLessThanOrEqual(s.startMs + s.durationMs);
              if (n > 0) expect(atMs).toBeGreaterThanOrEqual(due[n - 1]!.atMs);
              // Evenly spread and never early: request n is due once n + ½ requests have been offered.
              expect(offeredBy(steps, share, atMs)).toBeCloseTo(n + 0.5, 6);
              perStep[step]!++;
            }
            for (const [i, s] of steps.entries()) {
              expect(Math.abs(perStep[i]! - (s.rate * share * s.durationMs) / 1000)).toBeLessThanOrEqual(
                1 + 1e-9,
              );
              sentPerStep[i]! += perStep[i]!;
            }
            const offered = offeredBy(steps, share, Number.POSITIVE_INFINITY);
            expect(Math.abs(due.length - offered)).toBeLessThanOrEqual(0.5 + 1e-9);
            sentInRun += due.length;
          }
          // All kinds together: the configured rate, within one request per kind.
          for (const [i, s] of steps.entries())
            expect(Math.abs(sentPerStep[i]! - (s.rate * s.durationMs) / 1000)).toBeLessThanOrEqual(3 + 1e-9);
          const offered = steps.reduce((sum, s) => sum + (s.rate * s.durationMs) / 1000, 0);
          expect(Math.abs(sentInRun - offered)).toBeLessThanOrEqual(1.5 + 1e-9);
        },
      ),
    );
  });

  it('sends push at 5 % of a 5 req/s baseline: one every 4 s, not never', () => {
    const steps = festivalSteps({ baseline: 5, peak: 50, durationMs: 60_000 });
    const evening = steps.filter((s) => s.phase === 'evening').map((s) => steps.indexOf(s));
    const due = [...dueRequests(steps, DEFAULT_MIX.push)];
    expect(due.filter((d) => evening.includes(d.step)).map((d) => d.atMs)).toEqual([2_000, 6_000, 10_000]);
    expect(due.length).toBe(Math.round(offeredBy(steps, DEFAULT_MIX.push, 60_000)));
  });
});

describe('quantiles and summaries', () => {
  it('quantileOfSorted is the nearest-rank quantile of a brute-force count', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 60 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (values, q) => {
          const sorted = [...values].sort((a, b) => a - b);
          const result = quantileOfSorted(sorted, q);
          // the smallest value v with at least q·n values ≤ v
          const expected = sorted.find((v) => values.filter((w) => w <= v).length >= q * values.length);
          expect(result).toBe(expected);
        },
      ),
    );
  });

  it('summarize counts shed, limited and failed requests apart and ignores unanswered ones for latency', () => {
    const log = new SampleLog();
    const statuses = [200, 200, 503, 429, 500, NO_RESPONSE, 201];
    for (const [i, status] of statuses.entries()) log.add(i, (i + 1) * 10, status, 0, 0);
    for (let i = 0; i < 2000; i++) log.add(i, 1, 200, 1, 1);
    const s = summarize(log, (i) => log.step[i] === 0);
    expect(s).toEqual({ requests: 7, ok: 3, shed: 1, limited: 1, errors: 2, p50: 30, p95: 70, p99: 70 });
  });

  it('niceCeiling rounds up to 1, 2 or 5 times a power of ten', () => {
    expect([0, 0.3, 1, 1.2, 3, 7, 10, 11, 480].map(niceCeiling)).toEqual([1, 0.5, 1, 2, 5, 10, 10, 20, 500]);
  });

  it('parseMix normalises weights and names bad input', () => {
    expect(parseMix('recommendations=3,events=1')).toEqual({ recommendations: 0.75, events: 0.25, push: 0 });
    expect(() => parseMix('search=1')).toThrow(/unknown traffic kind/);
    expect(() => parseMix('events=0')).toThrow(/positive share/);
  });
});

/** A local server that answers 200 after `delayMs`, noting when each request arrived (performance.now()). */
async function recordingServer(
  delayMs: number,
): Promise<{ server: Server; url: string; arrivals: number[] }> {
  const arrivals: number[] = [];
  const server = createServer((request, response) => {
    arrivals.push(performance.now());
    request.resume();
    setTimeout(() => response.end('{}'), delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals };
}

/** One step of `durationMs` at `rate` requests/s of recommendations only, on `url`. */
const oneStep = (url: string, rate: number, durationMs: number, maxConnections: number) =>
  runLoad({
    steps: [{ phase: 'only', startMs: 0, durationMs, rate }],
    mix: { recommendations: 1, events: 0, push: 0 },
    urls: { api: url, ingest: url },
    population: { users: 100, items: 100 },
    maxConnections,
    timeoutSeconds: 30,
  });

// The runs below wait on the clock, not the CPU: their suites run side by side, each test on servers of its own,
// after the property tests above (whose CPU would hold the in-process services' event loop).
describe.concurrent('runLoad: open loop at a steady rate', () => {
  it('sends request k no earlier than k / rate into the step, however fast the server answers', async ({
    expect,
  }) => {
    const { server, url, arrivals } = await recordingServer(0);
    try {
      const startedAt = performance.now();
      const log = await oneStep(url, 200, 1_000, 50);
      expect(log.length).toBe(200);
      expect(Array.from(log.status.subarray(0, log.length)).every((status) => status === 200)).toBe(true);
      // A per-second budget spent at full speed (autocannon's pacing) would have sent all 200 at once.
      const sorted = arrivals.map((at) => at - startedAt).sort((a, b) => a - b);
      for (const [k, at] of sorted.entries()) expect(at).toBeGreaterThanOrEqual(k * 5);
    } finally {
      server.close();
    }
  });

  it('sends a kind offered under 0.5 req/s, and each kind its share over the run, not per step', async ({
    expect,
  }) => {
    // Push at 0.4 req/s offers 0.6 a step and 1.2 over both; recommendations at 3.6 req/s offer 5.4 a step and
    // 10.8 over both. Counted per step, push rounded to none and recommendations to 10.
    const { server, url } = await recordingServer(0);
    try {
      const log = await runLoad({
        steps: contiguous([
          { durationMs: 1_500, rate: 4 },
          { durationMs: 1_500, rate: 4 },
        ]),
        mix: { recommendations: 0.9, events: 0, push: 0.1 },
        urls: { api: url, ingest: url },
        population: { users: 100, items: 100 },
        maxConnections: 5,
        timeoutSeconds: 30,
      });
      const sent = (kind: (typeof TRAFFIC_KINDS)[number]) =>
        Array.from(log.kind.subarray(0, log.length)).filter((k) => k === TRAFFIC_KINDS.indexOf(kind)).length;
      expect({ recommendations: sent('recommendations'), push: sent('push') }).toEqual({
        recommendations: 11,
        push: 1,
      });
    } finally {
      server.close();
    }
  });

  it("counts a request's wait for a free connection in its response time (no coordinated omission)", async ({
    expect,
  }) => {
    // 50 requests due over 0.5 s on one connection to a server that takes 40 ms each: the last is answered about
    // 2 s in, 1.5 s after it was due. Measured from its send, every request would take 40 ms.
    const { server, url } = await recordingServer(40);
    try {
      const log = await oneStep(url, 100, 500, 1);
      expect(log.length).toBe(50);
      expect(Math.max(...log.latencyMs.subarray(0, log.length))).toBeGreaterThan(800);
    } finally {
      server.close();
    }
  });
});

describe.concurrent('elevens loadtest against running services', () => {
  let infra: TestInfra;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  let ingest: Awaited<ReturnType<typeof buildIngestApp>>;
  let outDir: string;

  beforeAll(async () => {
    infra = await createTestInfra('cli-loadtest');
    api = await buildApiApp({ config: loadApiConfig(infra.env) });
    ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
    outDir = await mkdtemp(join(tmpdir(), 'elevens-loadtest-'));
  });

  afterAll(async () => {
    await api.close();
    await ingest.close();
    await infra.close();
    await rm(outDir, { recursive: true, force: true });
  });

  it('ramps tiny rates through every phase and writes the Markdown report and the SVG chart', async ({
    expect,
  }) => {
    const apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
    const ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });
    // The elevens bin, as the other CLI tests run it: the compiled CLI, not its sources compiled again by tsx.
    const { code, stdout, stderr } = await runElevens(
      [
        'loadtest',
        '--scenario',
        'festival',
        '--baseline',
        '10',
        '--peak',
        '40',
        '--duration',
        '5s',
        '--api',
        apiUrl,
        '--ingest',
        ingestUrl,
        '--key',
        'not-checked-in-tests',
        '--mix',
        'recommendations=50,events=30,push=20',
        '--out',
        outDir,
      ],
      { LOG_LEVEL: 'warn' },
    );
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('wrote');
    const report = await readFile(join(outDir, 'report.md'), 'utf8');
    for (const phase of FESTIVAL_PHASES) expect(report).toContain(`| ${phase.phase} |`);
    expect(report).toContain('p99 ms');
    expect(report).toContain('![latency over time](latency.svg)');
    const total =
      /\| \*\*total\*\* \| [^|]+\|[^|]+\|[^|]+\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|/.exec(report);
    expect(total).not.toBeNull();
    const [requests, ok, shed, limited, errors] = total!.slice(1).map(Number);
    expect(requests).toBeGreaterThan(20);
    expect(ok).toBe(requests);
    expect(shed! + limited! + errors!).toBe(0);
    const events = await infra.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE user_id LIKE 'lt-u%'",
    );
    expect(events.rows[0]!.n).toBeGreaterThan(0);
    const svg = await readFile(join(outDir, 'latency.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // p99 drawn as a line, or as dots where tiny rates leave gaps between time buckets
    expect(svg).toMatch(/<polyline[^>]*stroke="#dc2626"|<circle[^>]*fill="#dc2626"/);
    expect(svg).toContain('midnight');
  });
});
