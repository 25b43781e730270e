import { MonitorQuery, MonitorSnapshot, PUSH_STATS_REASONS } from '@elevens/domain';
import { errorResponses, unavailable } from '@elevens/http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { LiveMonitor, MONITOR_HOURS, type MonitorReading } from '../dashboard/monitor';
import { httpCounters } from '../dashboard/traffic';
import { pollEvery } from '../plugins/poll';

declare module 'fastify' {
  interface FastifyInstance {
    /** the live festival monitor: per-minute figures sampled from the roll-ups and the metrics */
    monitor: LiveMonitor;
  }
}

export interface MonitorRouteOptions {
  /** the clock samples are taken at (epoch ms); tests fix it */
  now: () => number;
  /** how often the counters are sampled; default 2 s, so the page's 2 s poll is never more than 4 s behind */
  sampleEveryMs?: number;
}

const HOUR_MS = 3_600_000;

/**
 * Push decisions and releases of each hour in [fromHour, toHour), by PUSH_STATS_REASONS index, after this process's
 * own flush.
 */
async function pushByHour(app: FastifyInstance, fromHour: number, toHour: number) {
  await app.pushStats.flush();
  const byHour = new Map<number, Float64Array>();
  const hours: number[] = [];
  for (let hour = fromHour; hour < toHour; hour++) hours.push(hour);
  const counts = await Promise.all(hours.map((hour) => app.pushLedger.readStats(hour, hour + 1)));
  hours.forEach((hour, i) => {
    const vector = new Float64Array(PUSH_STATS_REASONS.length);
    for (const row of counts[i]!) {
      const at = PUSH_STATS_REASONS.indexOf(row.reason as (typeof PUSH_STATS_REASONS)[number]);
      if (at >= 0) vector[at]! += row.count;
    }
    byHour.set(hour, vector);
  });
  return byHour;
}

/**
 * The live monitor's sampler and its endpoint. Every sample reads the roll-ups of the last day (one grouped
 * query on their primary key, never the events), the push decision counts of the hours around now (one HGETALL
 * each) and this process's HTTP histogram; the snapshot endpoint answers from memory.
 */
export const monitorRoutes = fp(
  async (app: FastifyInstance, options: MonitorRouteOptions) => {
    const sampleEveryMs = options.sampleEveryMs ?? 2_000;
    const read = async (atMs: number): Promise<MonitorReading> => {
      const hour = Math.floor(atMs / HOUR_MS);
      // The next hour too: clients' clocks run a little ahead, and their events count in that hour.
      const [totals, push, http] = await Promise.allSettled([
        app.rollups.monitorTotals((hour - MONITOR_HOURS + 1) * HOUR_MS, (hour + 2) * HOUR_MS),
        pushByHour(app, hour - 1, hour + 2),
        httpCounters(app.metrics),
      ]);
      // One store away (Postgres or Redis) leaves the other's figures to show; none read is a failed sample.
      const results = { rollups: totals, push, http };
      const reasons = Object.entries(results).flatMap(([source, result]) =>
        result.status === 'rejected' ? [{ source, error: result.reason as unknown }] : [],
      );
      if (reasons.length === 3)
        throw new AggregateError(
          reasons.map((r) => r.error),
          'the live monitor could read none of its sources',
        );
      for (const { source, error } of reasons)
        app.log.warn({ err: error, source }, 'the live monitor could not read one of its sources');
      const value = <T>(result: PromiseSettledResult<T>) =>
        result.status === 'fulfilled' ? result.value : null;
      const rollups = value(totals);
      const pushed = value(push);
      return {
        atMs,
        watermarkMs: rollups?.watermarkMs ?? null,
        hours: rollups?.hours ?? null,
        push: pushed === null ? null : new Map([...pushed].map(([h, vector]) => [h * HOUR_MS, vector])),
        http: value(http),
      };
    };
    const monitor = new LiveMonitor({ read, now: options.now, sampleEveryMs });
    // Three missed samples: the counters cannot be read, and the endpoint tries once itself before saying so.
    const staleAfterMs = 3 * sampleEveryMs;
    /** the endpoint's own sample under way, shared by the requests that find the figures stale */
    let refreshing: Promise<void> | null = null;
    app.decorate('monitor', monitor);
    await pollEvery(app, sampleEveryMs, 'could not sample the live monitor', () => monitor.sample());

    app.withTypeProvider<ZodTypeProvider>().get(
      '/v1/dashboard/monitor',
      {
        config: { scope: 'admin' },
        logLevel: 'warn',
        schema: {
          tags: ['dashboard'],
          summary:
            'The live festival monitor: per-minute events, orders, revenue, CTR, push sends and suppressions, api latency and errors, and the last 24 hours.',
          querystring: MonitorQuery,
          response: { 200: MonitorSnapshot, ...errorResponses(400, 503) },
        },
      },
      async (request) => {
        const sampledAtMs = monitor.sampledAtMs;
        // Samples failing (no source could be read) would leave the last figures on screen as if live.
        if (sampledAtMs === null || options.now() - sampledAtMs > staleAfterMs) {
          try {
            refreshing ??= monitor.sample().finally(() => {
              refreshing = null;
            });
            await refreshing;
          } catch (error) {
            request.log.warn({ err: error }, 'live monitor unavailable');
            const since =
              sampledAtMs === null ? '' : ` (figures last read at ${new Date(sampledAtMs).toISOString()})`;
            throw unavailable(`the monitor cannot read its counters now${since}, retry shortly`, {
              cause: error,
            });
          }
        }
        const snapshot = monitor.snapshot(request.query.minutes);
        if (snapshot === null) throw unavailable('the monitor has no sample yet, retry shortly');
        return snapshot;
      },
    );
  },
  {
    name: 'elevens-api-monitor',
    fastify: '5.x',
    dependencies: ['elevens-db', 'elevens-metrics', 'elevens-push-rules'],
  },
);
