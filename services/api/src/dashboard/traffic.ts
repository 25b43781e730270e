import type { ElevensMetrics } from '@elevens/http';

export interface TrafficSnapshot {
  atMs: number;
  /** requests answered since the process started, every route */
  requests: number;
  /** of those, answered 503 (shed under pressure or while closing) */
  shed: number;
  /** push decisions since the process started, by reason ('ok' = allowed) */
  decisions: Record<string, number>;
}

/** Cumulative counters from the process's metrics; the dashboard turns two snapshots into rates. */
export async function trafficSnapshot(metrics: ElevensMetrics): Promise<TrafficSnapshot> {
  const [requests, decisions] = await Promise.all([metrics.httpRequests.get(), metrics.pushDecisions.get()]);
  const snapshot: TrafficSnapshot = { atMs: Date.now(), requests: 0, shed: 0, decisions: {} };
  for (const value of requests.values) {
    snapshot.requests += value.value;
    if (value.labels.status === '503') snapshot.shed += value.value;
  }
  for (const value of decisions.values) {
    const reason = String(value.labels.reason);
    snapshot.decisions[reason] = (snapshot.decisions[reason] ?? 0) + value.value;
  }
  return snapshot;
}
