import { buildApiApp, loadApiConfig } from '@elevens/api';
import {
  createLogSink,
  createTestInfra,
  type LogEntry,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const SECOND_MS = 1_000;

describe('live monitor logs during a store outage', () => {
  let infra: TestInfra;
  let postgres: TcpProxy;
  let redis: TcpProxy;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  const logs = createLogSink();
  let clock = Date.parse('2026-11-11T16:00:00.000Z');

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-monitor-outage-logs');
    // The api reaches both stores through proxies the test stops and starts again.
    postgres = await startTcpProxy(infra.databaseUrl);
    redis = await startTcpProxy(infra.redisUrl);
    const env = {
      ...infra.env,
      DATABASE_URL: postgres.url(infra.databaseUrl),
      REDIS_URL: redis.url(infra.redisUrl),
      REDIS_COMMAND_TIMEOUT: '200ms',
    };
    api = await buildApiApp({
      config: loadApiConfig(env),
      logging: { stream: logs.stream, level: 'info' },
      now: () => clock,
    });
  });

  afterAll(async () => {
    await api?.close();
    await postgres?.close();
    await redis?.close();
    await infra?.close();
  });

  /** The monitor's lines about `source` logged after the first `from` lines. */
  const monitorLines = (source: string, from: number) =>
    logs
      .entries()
      .slice(from)
      .filter((entry: LogEntry) => entry.source === source && String(entry.msg).includes('live monitor'));

  /** What the monitor tells errors apart by: their code, else their message. */
  const errorKind = (line: LogEntry) => line.err?.code ?? line.err?.message;

  /** One sample every 2 s of the app's clock, as the plugin takes them, for `seconds`. */
  const sampleFor = async (seconds: number) => {
    for (let at = 0; at < seconds; at += 2) {
      clock += 2 * SECOND_MS;
      await api.monitor.sample();
    }
  };

  it('logs a source that stays away once per error, then once a minute, and once when it answers again', async () => {
    await api.monitor.sample();
    const from = logs.entries().length;
    await Promise.all([postgres.refuse(), redis.refuse()]);
    const counts = new Map<string, number>();
    try {
      // 58 s of samples: a line per distinct error (the cut connection's, then the refused ones'), not per sample.
      await sampleFor(58);
      for (const source of ['rollups', 'push']) {
        const lines = monitorLines(source, from);
        expect(lines[0]).toMatchObject({
          level: 40,
          msg: 'the live monitor could not read one of its sources',
        });
        for (const line of lines.slice(1))
          expect(line).toMatchObject({
            level: 40,
            msg: 'the live monitor still cannot read one of its sources',
          });
        expect(new Set(lines.map(errorKind)).size, JSON.stringify(lines)).toBe(lines.length);
        expect(lines.length).toBeLessThanOrEqual(3);
        counts.set(source, lines.length);
      }
      // The next minute holds the minute after the last line: one reminder each, saying since when and how often.
      await sampleFor(60);
      for (const source of ['rollups', 'push']) {
        const lines = monitorLines(source, from);
        expect(lines, JSON.stringify(lines)).toHaveLength(counts.get(source)! + 1);
        expect(lines.at(-1)).toMatchObject({
          level: 40,
          msg: 'the live monitor still cannot read one of its sources',
          failingSince: expect.stringMatching(/^2026-11-11T16:00:0[02]\.000Z$/),
        });
        expect(lines.at(-1)!.failures).toBeGreaterThanOrEqual(30);
        counts.set(source, lines.length);
      }
      // Postgres accepts connections again but answers nothing: its new error is logged at once.
      await postgres.restore();
      postgres.hold();
      await sampleFor(2);
      const rollups = monitorLines('rollups', from);
      expect(rollups, JSON.stringify(rollups)).toHaveLength(counts.get('rollups')! + 1);
      expect(rollups.slice(0, -1).map(errorKind)).not.toContain(errorKind(rollups.at(-1)!));
      expect(monitorLines('push', from)).toHaveLength(counts.get('push')!);
      counts.set('rollups', rollups.length);
    } finally {
      postgres.release();
      await Promise.all([postgres.restore(), redis.restore()]);
    }
    // The clients reconnect on their own schedule: sample until both sources answer.
    await vi.waitFor(
      async () => {
        clock += 2 * SECOND_MS;
        await api.monitor.sample();
        const snapshot = (await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=1' })).json();
        expect(snapshot.sources.rollups.available && snapshot.sources.push.available).toBe(true);
      },
      { timeout: 15_000, interval: 100 },
    );
    await sampleFor(10);
    for (const source of ['rollups', 'push']) {
      // The sampling until both answered advanced the clock too: a reminder may fall in it.
      const lines = monitorLines(source, from).slice(counts.get(source));
      for (const line of lines.slice(0, -1))
        expect(line).toMatchObject({ msg: 'the live monitor still cannot read one of its sources' });
      expect(lines.at(-1)).toMatchObject({
        level: 30,
        msg: 'the live monitor reads one of its sources again',
        failingSince: monitorLines(source, from)[1]!.failingSince,
      });
    }
  });

  it('samples the other sources on time while Postgres stalls, and the endpoint answers without waiting for it', async () => {
    // Past a minute since the last line, then a healthy sample.
    clock += 2 * 60 * SECOND_MS;
    await api.monitor.sample();
    postgres.hold();
    try {
      const started = performance.now();
      await sampleFor(4);
      // Each sample waits for the stalled query one interval (2 s), not its 25 s timeout.
      expect(performance.now() - started).toBeLessThan(8_000);
      // Figures stale: the endpoint samples once itself.
      clock += 10 * SECOND_MS;
      const requested = performance.now();
      const response = await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=1' });
      expect(performance.now() - requested).toBeLessThan(5_000);
      expect(response.statusCode, response.body).toBe(200);
      const snapshot = response.json();
      expect(snapshot.sources.rollups.available).toBe(false);
      expect(snapshot.sources.push).toEqual({ available: true, readAt: new Date(clock).toISOString() });
      expect(snapshot.sources.http.available).toBe(true);
      const stalled = monitorLines('rollups', 0).at(-1)!;
      expect(stalled).toMatchObject({ level: 40, err: { message: 'no answer within 2000 ms' } });
    } finally {
      postgres.release();
    }
    // The stalled read finishes once released; the next samples read the roll-ups again.
    await vi.waitFor(
      async () => {
        clock += 2 * SECOND_MS;
        await api.monitor.sample();
        const snapshot = (await api.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=1' })).json();
        expect(snapshot.sources.rollups.available).toBe(true);
      },
      { timeout: 15_000, interval: 100 },
    );
  });
});
