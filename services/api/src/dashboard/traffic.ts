import type { ElevensMetrics, MetricsJson } from '@elevens/http';
import type { HttpCounters } from './monitor';

export interface TrafficSnapshot {
  atMs: number;
  /** requests answered since the process started, but the dashboard's own and the operators' (`isOwnTraffic`) */
  requests: number;
  /** of those, answered 503 (shed under pressure or while closing) */
  shed: number;
  /** push decisions since the process started, by reason ('ok' = allowed) */
  decisions: Record<string, number>;
}

/** The values of one metric of the process's metrics (every thread's), none when it has no series yet. */
const valuesOf = (gathered: MetricsJson, name: string) =>
  gathered.find((metric) => metric.name === name)?.values ?? [];

/**
 * Routes the live traffic and the monitor's latency and error rate leave out: the dashboard watching itself,
 * scrapes, probes and the API docs, so a quiet night is not charted as the dashboard's own polling.
 */
export const isOwnTraffic = (route: string) =>
  route.startsWith('/dashboard') ||
  route.startsWith('/v1/dashboard/') ||
  route === '/v1/model/runs' ||
  route.startsWith('/docs') ||
  route === '/metrics' ||
  route === '/healthz' ||
  route === '/readyz';

/**
 * Cumulative counters from the process's metrics, requests counted as the monitor counts them (`isOwnTraffic` left
 * out), stamped with the app's clock (`now`) when gathered; the dashboard turns two snapshots into rates.
 */
export async function trafficSnapshot(metrics: ElevensMetrics, now: () => number): Promise<TrafficSnapshot> {
  const gathered = await metrics.gather(['elevens_http_requests_total', 'elevens_push_decisions_total']);
  const requests = valuesOf(gathered, 'elevens_http_requests_total');
  const decisions = valuesOf(gathered, 'elevens_push_decisions_total');
  const snapshot: TrafficSnapshot = { atMs: now(), requests: 0, shed: 0, decisions: {} };
  for (const value of requests) {
    if (isOwnTraffic(String(value.labels.route))) continue;
    snapshot.requests += value.value;
    if (value.labels.status === '503') snapshot.shed += value.value;
  }
  for (const value of decisions) {
    const reason = String(value.labels.reason);
    snapshot.decisions[reason] = (snapshot.decisions[reason] ?? 0) + value.value;
  }
  return snapshot;
}

/** This process's cumulative request count, 5xx count and latency histogram, summed over the storefront's routes. */
export async function httpCounters(metrics: ElevensMetrics): Promise<HttpCounters> {
  const name = 'elevens_http_request_duration_seconds';
  const values = valuesOf(await metrics.gather([name]), name);
  const byBound = new Map<number, number>();
  let requests = 0;
  let errors = 0;
  for (const { labels, value, metricName } of values) {
    if (isOwnTraffic(String(labels.route))) continue;
    if (metricName?.endsWith('_bucket')) {
      // prom-client adds the bucket's `le` label to the histogram's own label names.
      const le = (labels as { le?: string | number }).le;
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      byBound.set(bound, (byBound.get(bound) ?? 0) + value);
    } else if (metricName?.endsWith('_count')) {
      requests += value;
      if (Number(labels.status) >= 500) errors += value;
    }
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { requests, errors, bounds, cumulative: Float64Array.from(bounds, (b) => byBound.get(b)!) };
}
