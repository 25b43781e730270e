/**
 * Open-loop load at a steady rate, as a storefront's many shoppers send it: request i is due at i / rate seconds,
 * whatever the server did with the ones before, and its response time counts from when the generator found it
 * due, its wait for a free connection included (as wrk2 measures), so a server that falls behind shows it in
 * its latency instead of being asked less (no coordinated omission). It does not count from the due time
 * itself: the timer that finds requests due fires up to a millisecond or so late, and that lateness is the
 * generator's, not the server's. autocannon cannot do this: it paces a
 * rate as a budget per connection and second, spent at full speed from the start of each second
 * (mcollina/autocannon#174), so "half the peak" there is the peak for half of each second, and its p99 is the
 * peak's. Requests are sent when a timer finds them due, about once a millisecond (Node's timer granularity):
 * at 8,000 req/s, runs of about eight.
 */
import type { HttpAnswer, HttpConnection } from './http-loops';

export interface PacedRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

export interface PacedLoad {
  /** keep-alive connections to the server; a due request waits for a free one */
  connections: readonly HttpConnection[];
  /** requests per second */
  rate: number;
  /** requests are due over this long */
  seconds: number;
  /** the i-th request */
  request: (i: number) => PacedRequest;
}

export interface PacedResult {
  /** requests due (all sent) */
  requests: number;
  /** answers with a 2xx status */
  ok: number;
  /** answers with another status, and requests whose connection failed */
  errors: number;
  /** from the first request's due time to the last answer */
  seconds: number;
  /** response times of the 2xx answers from when each was found due, ms */
  latencies: number[];
}

/** Runs `load`; resolves once every request has been answered or has failed. */
export function runPaced({ connections, rate, seconds, request }: PacedLoad): Promise<PacedResult> {
  const total = Math.max(1, Math.floor(rate * seconds));
  const intervalMs = 1000 / rate;
  const free = [...connections];
  /** due requests waiting for a connection, by index */
  const waiting: number[] = [];
  /** when the generator found each request due */
  const queuedAt = new Float64Array(total);
  let head = 0;
  let next = 0;
  let settled = 0;
  let ok = 0;
  let errors = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const dueAt = (i: number) => started + i * intervalMs;

  return new Promise((resolve) => {
    const finish = () =>
      resolve({ requests: total, ok, errors, seconds: (performance.now() - started) / 1000, latencies });

    const send = (connection: HttpConnection, i: number) => {
      const { method, path, body } = request(i);
      const settle = (answer: HttpAnswer | null) => {
        if (answer !== null && answer.status >= 200 && answer.status < 300) {
          ok++;
          latencies.push(performance.now() - queuedAt[i]!);
        } else errors++;
        settled++;
        free.push(connection);
        dispatch();
        if (settled === total) finish();
      };
      connection.request(method, path, body).then(settle, () => settle(null));
    };

    const dispatch = () => {
      while (head < waiting.length && free.length > 0) send(free.pop()!, waiting[head++]!);
      if (head === waiting.length) {
        waiting.length = 0;
        head = 0;
      }
    };

    const pump = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - started) / intervalMs) + 1);
      while (next < due) {
        queuedAt[next] = now;
        waiting.push(next++);
      }
      dispatch();
      if (next < total) setTimeout(pump, Math.max(0, dueAt(next) - performance.now()));
    };
    pump();
  });
}
