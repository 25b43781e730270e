/**
 * The benchmarks' open-loop load at a steady rate, as a storefront's many shoppers send it: `elevens loadtest`'s
 * pacing (`sendPaced`: request i goes out (i + ½) / rate seconds in, never early, whatever the server did with the ones
 * before) on this directory's cheap keep-alive client (http-loops.ts), so the load generator leaves the servers
 * most of the two cores. A response time counts from when the request was found due, its wait for a free
 * connection included (as wrk2 measures): a server that falls behind shows it in its latency instead of being
 * asked less (no coordinated omission). autocannon cannot do this: it paces a rate as a budget per connection and
 * second, spent at full speed from the start of each second (mcollina/autocannon#174), so "half the peak" there is
 * the peak for half of each second, and its p99 is the peak's.
 */
import { sendPaced } from '@elevens/cli/loadtest';
import { type HttpAnswer, type HttpConnection, openConnections } from './http-loops';
import { processCpuMs } from './servers';

export interface PacedRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

export interface PacedLoad {
  /** the server's port and process */
  server: { port: number; pid: number };
  /** keep-alive connections to open; a due request waits for a free one */
  connections: number;
  /** requests per second */
  rate: number;
  /** requests are due over this long */
  seconds: number;
  /** the i-th request */
  request: (i: number) => PacedRequest;
}

export interface PacedResult {
  /** requests sent */
  requests: number;
  /** answers with a 2xx status */
  ok: number;
  /** answers with another status, and requests whose connection failed */
  errors: number;
  /** from the first request's due time to the last answer */
  seconds: number;
  /** response times of the 2xx answers from when each was found due, ms */
  latencies: number[];
  /** the server process's CPU time over the load (user + system), ms; null where /proc is unavailable */
  serverCpuMs: number | null;
}

/** Runs `load` on fresh connections; resolves once every request has been answered or has failed. */
export async function runPaced({
  server,
  connections,
  rate,
  seconds,
  request,
}: PacedLoad): Promise<PacedResult> {
  const opened = await openConnections(server.port, connections);
  const free = [...opened];
  /** requests found due and waiting for a connection: index and when found due */
  const waiting: [number, number][] = [];
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let ok = 0;
  let errors = 0;
  const latencies: number[] = [];

  const send = (connection: HttpConnection, i: number, foundDueAt: number) => {
    const { method, path, body } = request(i);
    const settle = (answer: HttpAnswer | null) => {
      if (answer !== null && answer.status >= 200 && answer.status < 300) {
        ok++;
        latencies.push(performance.now() - foundDueAt);
      } else errors++;
      free.push(connection);
      // The next waiting request is in flight before this one leaves the set.
      dispatch();
    };
    const answered = connection
      .request(method, path, body)
      .then(settle, () => settle(null))
      .finally(() => inFlight.delete(answered));
    inFlight.add(answered);
  };
  const dispatch = () => {
    while (waiting.length > 0 && free.length > 0) {
      const [i, foundDueAt] = waiting.shift()!;
      send(free.pop()!, i, foundDueAt);
    }
  };

  const cpuBefore = processCpuMs(server.pid);
  const started = performance.now();
  try {
    await sendPaced(rate, seconds * 1000, (foundDueAt) => {
      waiting.push([sent++, foundDueAt]);
      dispatch();
    });
    while (inFlight.size > 0) await Promise.all(inFlight);
  } finally {
    for (const connection of opened) connection.close();
  }
  const cpuAfter = processCpuMs(server.pid);
  return {
    requests: sent,
    ok,
    errors,
    seconds: (performance.now() - started) / 1000,
    latencies,
    serverCpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
  };
}
