import { MonitorQuery, MonitorSnapshot, PUSH_STATS_REASONS } from '@elevens/domain';
import { errorResponses, TIMED_OUT, unavailable, within } from '@elevens/http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
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
/** How often a source still failing is logged again. */
const REMINDER_EVERY_MS = 60_000;
/** Most distinct errors logged as they appear in one outage of a source; others wait for the reminder. */
const MAX_ERRORS_PER_OUTAGE = 8;

/** No source could be read: each was logged as it failed, so the sampler's poll does not log it again. */
class MonitorSourcesUnreadable extends AggregateError {}

/** What tells two failures of a source apart in the log: their code when they have one (it holds no address). */
function errorKind(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}: ${typeof code === 'string' ? code : error.message}`;
}

/** What the log has said of one source. */
interface SourceLogState {
  failing: boolean;
  /** when the outage began */
  sinceMs: number;
  /** failed samples since */
  failures: number;
  /** when a line about the source was last logged */
  loggedAtMs: number;
  /** a warning was logged that no line saying the source answers again has followed */
  unresolved: boolean;
  /** the kinds of error logged in this outage */
  kinds: Set<string>;
}

/**
 * Logs a source's outage, not each failed sample (one every 2 s, for as long as a store is away): its first
 * failure, an error not met before in the outage, a reminder a minute, and one line when the source answers again.
 * A source failing again within a minute of its last line continues that outage, so one that answers every other
 * sample (a store slower than the sampler waits) logs at most two lines a minute.
 */
function sourceOutageLog(log: FastifyBaseLogger) {
  const states = new Map<string, SourceLogState>();
  return {
    failed(source: string, atMs: number, error: unknown) {
      const state = states.get(source);
      const kind = errorKind(error);
      if (state === undefined || (!state.failing && atMs - state.loggedAtMs >= REMINDER_EVERY_MS)) {
        states.set(source, {
          failing: true,
          sinceMs: atMs,
          failures: 1,
          loggedAtMs: atMs,
          unresolved: true,
          kinds: new Set([kind]),
        });
        log.warn({ err: error, source }, 'the live monitor could not read one of its sources');
        return;
      }
      state.failing = true;
      state.failures++;
      const newKind = !state.kinds.has(kind) && state.kinds.size < MAX_ERRORS_PER_OUTAGE;
      if (!newKind && atMs - state.loggedAtMs < REMINDER_EVERY_MS) return;
      state.kinds.add(kind);
      state.loggedAtMs = atMs;
      state.unresolved = true;
      log.warn(
        {
          err: error,
          source,
          failingSince: new Date(state.sinceMs).toISOString(),
          failures: state.failures,
        },
        'the live monitor still cannot read one of its sources',
      );
    },
    answered(source: string, atMs: number) {
      const state = states.get(source);
      if (state === undefined || !state.failing) return;
      state.failing = false;
      if (!state.unresolved) return;
      state.unresolved = false;
      state.loggedAtMs = atMs;
      log.info(
        { source, failingSince: new Date(state.sinceMs).toISOString(), failures: state.failures },
        'the live monitor reads one of its sources again',
      );
    },
  };
}

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
 * A source's reads, one at a time, each waited for at most `waitMs`: a read not back by then fails that sample
 * and goes on, and the next sample takes its outcome instead of starting another. A stalled store (a query left
 * to its 25 s timeout) then neither holds back the other sources' figures and the endpoint's answer, nor piles up
 * one read per sample on its connections.
 */
function oneReadAtATime<A, T>(read: (arg: A) => Promise<T>, waitMs: number): (arg: A) => Promise<T> {
  let inFlight: Promise<T> | null = null;
  return async (arg) => {
    // A read still under way when its sample gave up on it is the next sample's, whatever its outcome.
    if (inFlight === null) {
      const started: Promise<T> = read(arg).finally(() => {
        if (inFlight === started) inFlight = null;
      });
      inFlight = started;
    }
    const current = inFlight;
    current.catch(() => {});
    const settled = await within(current, waitMs);
    if (settled === TIMED_OUT) throw new Error(`no answer within ${waitMs} ms`);
    return settled;
  };
}

/**
 * The live monitor's sampler and its endpoint. Every sample reads the roll-ups of the last day (one grouped
 * query on their primary key, never the events), the push decision counts of the hours around now (one HGETALL
 * each) and this process's HTTP histogram; the snapshot endpoint answers from memory.
 */
export const monitorRoutes = fp(
  async (app: FastifyInstance, options: MonitorRouteOptions) => {
    const sampleEveryMs = options.sampleEveryMs ?? 2_000;
    const outageLog = sourceOutageLog(app.log);
    // A sample waits for each store at most one interval: the sampler's pace, whatever a store's timeouts.
    // The next hour too: clients' clocks run a little ahead, and their events count in that hour.
    const readRollups = oneReadAtATime(
      (hour: number) => app.rollups.monitorTotals((hour - MONITOR_HOURS + 1) * HOUR_MS, (hour + 2) * HOUR_MS),
      sampleEveryMs,
    );
    const readPush = oneReadAtATime((hour: number) => pushByHour(app, hour - 1, hour + 2), sampleEveryMs);
    const read = async (atMs: number): Promise<MonitorReading> => {
      const hour = Math.floor(atMs / HOUR_MS);
      const [totals, push, http] = await Promise.allSettled([
        readRollups(hour),
        readPush(hour),
        httpCounters(app.metrics),
      ]);
      // One store away (Postgres or Redis) leaves the other's figures to show; none read is a failed sample.
      const results = { rollups: totals, push, http };
      const errors: unknown[] = [];
      for (const [source, result] of Object.entries(results)) {
        if (result.status === 'fulfilled') outageLog.answered(source, atMs);
        else {
          outageLog.failed(source, atMs, result.reason);
          errors.push(result.reason);
        }
      }
      if (errors.length === 3)
        throw new MonitorSourcesUnreadable(errors, 'the live monitor could read none of its sources');
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
    await pollEvery(app, sampleEveryMs, 'could not sample the live monitor', () =>
      monitor.sample().catch((error: unknown) => {
        if (!(error instanceof MonitorSourcesUnreadable)) throw error;
      }),
    );

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
