import { TRAFFIC_KINDS, type TrafficKind } from './scenario';

/** Status recorded for a request that got no HTTP answer (connection error or timeout). */
export const NO_RESPONSE = 0;

/** Failed requests of one kind and one answer: a non-2xx status, or `no answer` (one group per error code). */
export interface Failure {
  kind: TrafficKind;
  /** the status, or `no answer` */
  answer: string;
  count: number;
  /** the first one's: the answer's `message` (or its body), or why there was no answer */
  message: string;
}

/** Every answered or failed request of a run, in growable typed arrays (a festival run has millions). */
export class SampleLog {
  atMs = new Float64Array(1024);
  latencyMs = new Float32Array(1024);
  status = new Uint16Array(1024);
  kind = new Uint8Array(1024);
  /** index of the load step that sent the request */
  step = new Uint16Array(1024);
  length = 0;
  /** the failed requests by kind and answer, so a report says why they failed, not only how many */
  failures = new Map<string, Failure>();

  /** Whether a failure of this kind, status and error code is yet to be seen (its message is worth reading). */
  isNewFailure(kindIndex: number, status: number, code = ''): boolean {
    return !this.failures.has(failureKey(kindIndex, status, code));
  }

  /** Counts one failed request; `message` is kept from the first of its group. */
  addFailure(kindIndex: number, status: number, message: string, code = ''): void {
    const key = failureKey(kindIndex, status, code);
    const known = this.failures.get(key);
    if (known) known.count++;
    else
      this.failures.set(key, {
        kind: TRAFFIC_KINDS[kindIndex]!,
        answer: status === NO_RESPONSE ? 'no answer' : String(status),
        count: 1,
        message,
      });
  }

  add(atMs: number, latencyMs: number, status: number, kindIndex: number, stepIndex: number): void {
    if (this.length === this.atMs.length) this.#grow();
    this.atMs[this.length] = atMs;
    this.latencyMs[this.length] = latencyMs;
    this.status[this.length] = status;
    this.kind[this.length] = kindIndex;
    this.step[this.length] = stepIndex;
    this.length++;
  }

  #grow() {
    const size = this.atMs.length * 2;
    const grow = <T extends Float64Array | Float32Array | Uint16Array | Uint8Array>(
      a: T,
      make: (n: number) => T,
    ) => {
      const next = make(size);
      next.set(a);
      return next;
    };
    this.atMs = grow(this.atMs, (n) => new Float64Array(n));
    this.latencyMs = grow(this.latencyMs, (n) => new Float32Array(n));
    this.status = grow(this.status, (n) => new Uint16Array(n));
    this.kind = grow(this.kind, (n) => new Uint8Array(n));
    this.step = grow(this.step, (n) => new Uint16Array(n));
  }
}

const failureKey = (kindIndex: number, status: number, code: string) => `${kindIndex} ${status} ${code}`;

/** The q-quantile (0–1) of ascending values by the nearest-rank method; NaN when empty. */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export interface Summary {
  requests: number;
  ok: number;
  /** 503: the service shed the request (under pressure or closing) */
  shed: number;
  /** 429: rate limited */
  limited: number;
  /** any other non-2xx answer, and requests with no answer */
  errors: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Counts and latency quantiles of the samples `select` picks (answered requests only for latency). */
export function summarize(log: SampleLog, select: (i: number) => boolean): Summary {
  const latencies: number[] = [];
  const summary: Summary = { requests: 0, ok: 0, shed: 0, limited: 0, errors: 0, p50: 0, p95: 0, p99: 0 };
  for (let i = 0; i < log.length; i++) {
    if (!select(i)) continue;
    summary.requests++;
    const status = log.status[i]!;
    if (status >= 200 && status < 300) summary.ok++;
    else if (status === 503) summary.shed++;
    else if (status === 429) summary.limited++;
    else summary.errors++;
    if (status !== NO_RESPONSE) latencies.push(log.latencyMs[i]!);
  }
  const sorted = Float64Array.from(latencies).sort();
  summary.p50 = quantileOfSorted(sorted, 0.5);
  summary.p95 = quantileOfSorted(sorted, 0.95);
  summary.p99 = quantileOfSorted(sorted, 0.99);
  return summary;
}

export interface LatencyPoint {
  /** start of the bucket, seconds since the run started */
  second: number;
  requests: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Latency quantiles per time bucket (answered requests), for the chart. */
export function latencySeries(log: SampleLog, bucketMs: number, totalMs: number): LatencyPoint[] {
  const buckets: number[][] = Array.from({ length: Math.max(1, Math.ceil(totalMs / bucketMs)) }, () => []);
  for (let i = 0; i < log.length; i++) {
    if (log.status[i] === NO_RESPONSE) continue;
    const b = Math.min(buckets.length - 1, Math.max(0, Math.floor(log.atMs[i]! / bucketMs)));
    buckets[b]!.push(log.latencyMs[i]!);
  }
  return buckets.map((values, b) => {
    const sorted = Float64Array.from(values).sort();
    return {
      second: (b * bucketMs) / 1000,
      requests: values.length,
      p50: quantileOfSorted(sorted, 0.5),
      p95: quantileOfSorted(sorted, 0.95),
      p99: quantileOfSorted(sorted, 0.99),
    };
  });
}
