import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValueWithName,
  Registry,
} from 'prom-client';
import { NETWORK_ERROR_CODES } from './errors';

/** What the metrics know of a store's connection: the db and Redis plugins' `postgresHealth` and `redisHealth`. */
export interface ConnectionEvents {
  /** calls `listener` on each error the connection reports */
  onError(listener: (error: Error) => void): void;
  /** the port it connects to, to attribute a bare socket error to it; undefined: the store's default port */
  readonly port: number | undefined;
}

export interface ServedModelStatus {
  version: string;
  builtAtMs: number;
}

export type ConnectionErrorSource = 'redis' | 'postgres';

/**
 * A registry's metrics as prom-client's `getMetricsAsJSON` gives them (what threads send each other); a
 * histogram's values name their series (`_bucket`, `_sum`, `_count`).
 */
export type MetricsJson = MetricObjectWithValues<MetricValueWithName<string>>[];

/** The metrics of a process's other threads for one scrape (`otherThreads`). */
export interface OtherThreadsMetrics {
  /**
   * Each thread's, as it answered; for a thread that did not answer in time, its last answer if it gave one (so
   * its counters do not go back, which Prometheus would read as a reset)
   */
  metrics: MetricsJson[];
  /** the threads that did not answer in time, by the id their log lines carry (`thread`) */
  late: number[];
}

/** One transaction of ingest's group commit: its size, and where the time of its oldest request went (ms). */
export interface GroupCommitStats {
  requests: number;
  events: number;
  /** from its oldest request's arrival to the start of its write */
  waitedMs: number;
  /** the transaction, until Postgres answered its commit */
  writeMs: number;
  /** the live state update after the commit, before the requests are answered */
  afterCommitMs: number;
}

/** The process's Prometheus metrics; route owners increment them through `app.metrics`. */
export interface ElevensMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly eventsIngested: Counter<'type'>;
  readonly pushDecisions: Counter<'channel' | 'reason'>;
  /** `result`: 'hit' (served from the reply cache), 'miss' (computed, then cached), 'off' (cache disabled) */
  readonly recommendationCache: Counter<'result'>;
  /** 1 for the served version, absent before the first build */
  readonly modelInfo: Gauge<'version'>;
  readonly modelAgeSeconds: Gauge;
  /** `source`: 'client' (the connection's own error events) or 'request' (a request failed on it) */
  readonly redisErrors: Counter<'source'>;
  readonly postgresErrors: Counter<'source'>;
  /** ingest's group commits: per group, its size in `unit` 'events' and 'requests' */
  readonly ingestGroupSize: Histogram<'unit'>;
  /** ingest's group commits: per group, the seconds of each `stage` (`GroupCommitStats`) */
  readonly ingestGroupSeconds: Histogram<'stage'>;
  /** Counts stored events by type. */
  recordEvents(events: readonly { type: string }[]): void;
  /**
   * The process's metrics named `names` as JSON: this thread's, summed with its other threads' (`otherThreads`)
   * by each metric's aggregator; a metric without series yet is left out. What in-process readers (the
   * dashboard) count from.
   */
  gather(names: readonly string[]): Promise<MetricsJson>;
  /**
   * `registry` in a single-threaded process; a registry summing every thread's (made per call) otherwise, with
   * `elevens_metrics_late_threads`; `onLate` is told the threads that did not answer in time, if any.
   */
  processRegistry(onLate?: (threads: number[]) => void): Promise<Registry>;
  /** Records one committed group of ingest's group commit. */
  recordGroupCommit(group: GroupCommitStats): void;
  /** Counts one push decision; reason 'ok' is an allowed one. */
  recordPushDecision(decision: { channel: string; reason: string }): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ElevensMetrics;
  }
}

export interface MetricsPluginOptions {
  /** `service` label on every series: 'api', 'ingest' */
  service: string;
  redis?: ConnectionEvents;
  postgres?: ConnectionEvents;
  /** Read at each scrape for the model version and age gauges. */
  servedModel?: () => ServedModelStatus | null;
  /** Process metrics (CPU, memory, event-loop lag); default true. A process's worker threads leave them out. */
  processMetrics?: boolean;
  /**
   * The metrics of the process's other threads (the API's API_THREADS): /metrics and `gather` add them to this
   * thread's, so a scrape answered by any thread counts the whole process. It resolves in a bounded time, a
   * thread that did not answer in time named in `late`.
   */
  otherThreads?: () => Promise<OtherThreadsMetrics>;
}

/** Route label of requests that matched no route, so scanners cannot blow up the label set with raw URLs. */
export const UNMATCHED_ROUTE = '(unmatched)';

/**
 * 100 µs to 10 s: an idle api answers a cached recommendation or a push decision in 0.1–0.5 ms, which a lowest
 * bound of 1 ms would put in one bucket (p50 and p99 unreadable until latency passed 1 ms).
 */
const LATENCY_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** A group's stages take from well under a millisecond (an idle server's wait) to a second (its live-state timeout). */
const GROUP_STAGE_BUCKETS_SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Up to INGEST_GROUP_MAX_EVENTS' default, 5,000. */
const GROUP_SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000];

/** The ports the stores listen on, to attribute a bare socket error (ECONNREFUSED …) to one of them. */
export interface StorePorts {
  redis: number;
  postgres: number;
}
const DEFAULT_PORTS: StorePorts = { redis: 6379, postgres: 5432 };

/**
 * Which store a request failure came from when it is a connection failure (not a bad query or a bad reply):
 * ioredis and pg error shapes, or a socket error naming the store's port.
 */
export function classifyConnectionError(
  error: unknown,
  ports: StorePorts = DEFAULT_PORTS,
  depth = 0,
): ConnectionErrorSource | null {
  if (typeof error !== 'object' || error === null) return null;
  // A route may answer a store failure with its own error (503 …) that keeps the original as `cause`.
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined && depth < 5) {
    const source = classifyConnectionError(cause, ports, depth + 1);
    if (source !== null) return source;
  }
  const { name, message, code, port } = error as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    port?: unknown;
  };
  const text = typeof message === 'string' ? message : '';
  if (name === 'MaxRetriesPerRequestError') return 'redis';
  if (/enableOfflineQueue|Connection is closed|Redis connection|^Command timed out$/i.test(text))
    return 'redis';
  // SQLSTATE class 08 is "connection exception"; 57P01–57P03 are server shutdown and start-up refusals.
  if (typeof code === 'string' && (/^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code)))
    return 'postgres';
  if (
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      text,
    )
  )
    return 'postgres';
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) {
    if (port === ports.redis) return 'redis';
    if (port === ports.postgres) return 'postgres';
  }
  return null;
}

/**
 * A thread's metrics with prom-client's 'omit' aggregator (the process start time) read as 'first': that
 * aggregator is for a cluster's processes, each with its own start; threads share one process, whose process
 * metrics the primary thread alone reports.
 */
const keepOmitted = (metrics: MetricsJson): MetricsJson =>
  metrics.map((metric) => (metric.aggregator === 'omit' ? { ...metric, aggregator: 'first' } : metric));

/** Creates the metrics in their own registry (one per app, so several apps can live in one process). */
export function createMetrics(
  service: string,
  options: Pick<MetricsPluginOptions, 'processMetrics' | 'servedModel' | 'otherThreads'> = {},
): ElevensMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'elevens_' });
  const registers = [registry];
  const eventsIngested = new Counter({
    name: 'elevens_events_ingested_total',
    help: 'Events stored (duplicates excluded), by event type.',
    labelNames: ['type'] as const,
    registers,
  });
  const pushDecisions = new Counter({
    name: 'elevens_push_decisions_total',
    help: "Push decisions by channel and reason; reason 'ok' means allowed.",
    labelNames: ['channel', 'reason'] as const,
    registers,
  });
  const recommendationCache = new Counter({
    name: 'elevens_recommendation_cache_total',
    help: "Recommendation answers by reply cache result: 'hit', 'miss' (computed), 'off' (cache disabled).",
    labelNames: ['result'] as const,
    registers,
  });
  // Labelled, so a service that commits no groups exports none of their series.
  const ingestGroupSize = new Histogram({
    name: 'elevens_ingest_group_size',
    help: "Ingest's group-committed transactions by size, in 'events' and in 'requests' sharing the commit.",
    labelNames: ['unit'] as const,
    buckets: GROUP_SIZE_BUCKETS,
    registers,
  });
  const ingestGroupSeconds = new Histogram({
    name: 'elevens_ingest_group_seconds',
    help:
      "Where an ingest group's time goes, by stage: 'wait' (its oldest request, until the write starts), 'write' " +
      "(the transaction, to its commit), 'live_state' (the Redis update before the requests are answered).",
    labelNames: ['stage'] as const,
    buckets: GROUP_STAGE_BUCKETS_SECONDS,
    registers,
  });
  // Read at each collection, so every thread's copy is current when threads' metrics are summed; `max` over
  // threads: each serving thread reports 1 for the version it serves (two during a switch), and the oldest age.
  const servedModel = options.servedModel;
  const modelInfo = new Gauge({
    name: 'elevens_model_info',
    help: 'The served model version (value 1).',
    labelNames: ['version'] as const,
    registers,
    aggregator: 'max',
    collect() {
      this.reset();
      const served = servedModel?.() ?? null;
      if (served) this.set({ version: served.version }, 1);
    },
  });
  const modelAgeSeconds = new Gauge({
    name: 'elevens_model_age_seconds',
    help: 'Seconds since the served model was built.',
    registers,
    aggregator: 'max',
    collect() {
      const served = servedModel?.() ?? null;
      // Absent, not 0, without a served model: 0 would read as the freshest model and hide it from age alerts.
      if (served) this.set(Math.max(0, (Date.now() - served.builtAtMs) / 1000));
      else this.remove();
    },
  });
  const otherThreads = options.otherThreads;
  /** This thread's registry, or one summing every thread's when the process has others. */
  const processRegistry = async (onLate?: (threads: number[]) => void): Promise<Registry> => {
    if (!otherThreads) return registry;
    const [own, others] = await Promise.all([registry.getMetricsAsJSON(), otherThreads()]);
    if (others.late.length > 0) onLate?.(others.late);
    // Made per scrape, not kept in a thread's registry: the threads' copies would be summed.
    const late = new Registry();
    late.setDefaultLabels({ service });
    new Gauge({
      name: 'elevens_metrics_late_threads',
      help:
        'Threads of this process that did not give this scrape their metrics in time (the log names them); ' +
        'their last metrics stand in for them.',
      registers: [late],
    }).set(others.late.length);
    const lateJson = await late.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([own, ...others.metrics, lateJson].map(keepOmitted));
  };
  return {
    registry,
    processRegistry,
    async gather(names) {
      if (otherThreads) {
        const all = await (await processRegistry()).getMetricsAsJSON();
        return all.filter((metric) => names.includes(metric.name));
      }
      const metrics = names
        .map((name) => registry.getSingleMetric(name))
        .filter((metric) => metric !== undefined);
      return Promise.all(metrics.map((metric) => metric.get()));
    },
    httpRequests: new Counter({
      name: 'elevens_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: 'elevens_http_request_duration_seconds',
      help: 'HTTP request latency from arrival to the last byte sent, by route pattern.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    eventsIngested,
    pushDecisions,
    recommendationCache,
    modelInfo,
    modelAgeSeconds,
    redisErrors: new Counter({
      name: 'elevens_redis_errors_total',
      help: 'Redis connection errors: client error events and requests failed by them.',
      labelNames: ['source'] as const,
      registers,
    }),
    postgresErrors: new Counter({
      name: 'elevens_postgres_errors_total',
      help: 'Postgres connection errors: pool error events and requests failed by them.',
      labelNames: ['source'] as const,
      registers,
    }),
    ingestGroupSize,
    ingestGroupSeconds,
    recordEvents(events) {
      for (const event of events) eventsIngested.inc({ type: event.type });
    },
    recordGroupCommit({ requests, events, waitedMs, writeMs, afterCommitMs }) {
      ingestGroupSize.observe({ unit: 'events' }, events);
      ingestGroupSize.observe({ unit: 'requests' }, requests);
      ingestGroupSeconds.observe({ stage: 'wait' }, waitedMs / 1000);
      ingestGroupSeconds.observe({ stage: 'write' }, writeMs / 1000);
      ingestGroupSeconds.observe({ stage: 'live_state' }, afterCommitMs / 1000);
    },
    recordPushDecision({ channel, reason }) {
      pushDecisions.inc({ channel, reason });
    },
  };
}

/**
 * Decorates `app.metrics` and serves them at `GET /metrics` (Prometheus text format, no key). Register it
 * before the routes so its hooks see every request.
 */
export const metricsPlugin = fp(
  async (app: FastifyInstance, options: MetricsPluginOptions) => {
    const metrics = createMetrics(options.service, options);
    app.decorate('metrics', metrics);

    options.redis?.onError(() => metrics.redisErrors.inc({ source: 'client' }));
    options.postgres?.onError(() => metrics.postgresErrors.inc({ source: 'client' }));

    const ports: StorePorts = {
      redis: options.redis?.port ?? DEFAULT_PORTS.redis,
      postgres: options.postgres?.port ?? DEFAULT_PORTS.postgres,
    };
    app.addHook('onError', (_request, _reply, error, done) => {
      const source = classifyConnectionError(error, ports);
      if (source === 'redis') metrics.redisErrors.inc({ source: 'request' });
      if (source === 'postgres') metrics.postgresErrors.inc({ source: 'request' });
      done();
    });

    // A callback hook, not an async one: no promise per request on the path every request takes.
    app.addHook('onResponse', (request, reply, done) => {
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? UNMATCHED_ROUTE,
        status: String(reply.statusCode),
      };
      metrics.httpRequests.inc(labels);
      metrics.httpRequestDuration.observe(labels, reply.elapsedTime / 1000);
      done();
    });

    app.get(
      '/metrics',
      { config: { public: true }, schema: { hide: true }, logLevel: 'warn' },
      async (_request, reply) => {
        reply.header('content-type', metrics.registry.contentType);
        const registry = await metrics.processRegistry((threads) =>
          app.log.warn(
            { threads },
            'API threads did not give their metrics in time: their last ones are served',
          ),
        );
        return registry.metrics();
      },
    );
  },
  { name: 'elevens-metrics', fastify: '5.x' },
);
