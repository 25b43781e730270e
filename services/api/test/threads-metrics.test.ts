import { MessageChannel, type MessagePort, threadId } from 'node:worker_threads';
import type { MetricsJson } from '@elevens/http';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadRpc } from '../src/thread-rpc';
import { PrimaryThread, workerLink } from '../src/threads';

// /metrics in a multi-threaded API (API_THREADS > 1) asks the other threads for theirs: a thread that does not
// answer (its event loop stuck, or ended) must not hold the scrape, nor make the counters it reported go back.

const WAIT_MS = 150;

const channels: MessageChannel[] = [];
afterEach(() => {
  for (const channel of channels.splice(0)) {
    channel.port1.close();
    channel.port2.close();
  }
});

/** One thread's metrics (as prom-client's JSON, whose declared types do not match its values): `requests`. */
const metricsOf = (requests: number) =>
  [
    {
      name: 'elevens_http_requests_total',
      help: 'requests',
      type: 'counter',
      aggregator: 'sum',
      values: [{ value: requests, labels: {} }],
    },
  ] as unknown as MetricsJson;

/** Resolves with `promise`, or rejects once `ms` have passed: a hung wait fails the test instead of timing it out. */
const within = <T>(ms: number, promise: Promise<T>) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`not answered within ${ms} ms`)), ms),
    ),
  ]);

/** A channel whose primary end names the worker thread `threadId`, as a `Worker` does. */
function channelOf(threadId: number): {
  primarySide: MessagePort & { threadId: number };
  workerSide: MessagePort;
} {
  const channel = new MessageChannel();
  channels.push(channel);
  return { primarySide: Object.assign(channel.port1, { threadId }), workerSide: channel.port2 };
}

/** A primary with worker threads 7 (answers 5, then 6, …) and 8 (answers 20 once, then never again). */
function primaryWithWorkers() {
  const primary = new PrimaryThread({ metricsWaitMs: WAIT_MS });
  primary.serveFrom({ modelStore: null as never, ownMetrics: async () => metricsOf(1) });
  let answered = 4;
  let stuck = false;
  const workers = new Map<number, () => Promise<MetricsJson>>([
    [7, async () => metricsOf(++answered)],
    [
      8,
      () => {
        if (stuck) return new Promise(() => {});
        stuck = true;
        return Promise.resolve(metricsOf(20));
      },
    ],
  ]);
  const workerRpcs = new Map<number, ThreadRpc>();
  for (const [threadId, ownMetrics] of workers) {
    const { primarySide, workerSide } = channelOf(threadId);
    primary.attach(primarySide, {});
    workerRpcs.set(threadId, new ThreadRpc(workerSide, { ownMetrics }));
  }
  return { primary, workerRpcs };
}

describe("the other threads' metrics", () => {
  it('come in a bounded time when a thread does not answer: the others, its last answer, and its name', async () => {
    const { primary } = primaryWithWorkers();
    expect(await within(1_000, primary.link.otherMetrics())).toEqual({
      metrics: [metricsOf(5), metricsOf(20)],
      late: [],
    });
    // Thread 8 is stuck now: its last answer stands in, so its counters do not go back (a reset to Prometheus).
    const started = Date.now();
    expect(await within(1_000, primary.link.otherMetrics())).toEqual({
      metrics: [metricsOf(6), metricsOf(20)],
      late: [8],
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(WAIT_MS - 10);
  });

  it('a thread that never answered is left out and named', async () => {
    const primary = new PrimaryThread({ metricsWaitMs: WAIT_MS });
    primary.serveFrom({ modelStore: null as never, ownMetrics: async () => metricsOf(1) });
    const { primarySide, workerSide } = channelOf(9);
    primary.attach(primarySide, {});
    new ThreadRpc(workerSide, { ownMetrics: () => new Promise(() => {}) });
    expect(await within(1_000, primary.link.otherMetrics())).toEqual({ metrics: [], late: [9] });
  });

  it("reach a worker through the primary in a bounded time, and the primary's own when it does not answer", async () => {
    const { primary, workerRpcs } = primaryWithWorkers();
    const fromSeven = workerLink(workerRpcs.get(7)!, { metricsWaitMs: WAIT_MS });
    expect(await within(1_000, fromSeven.otherMetrics())).toEqual({
      metrics: [metricsOf(1), metricsOf(20)],
      late: [],
    });
    expect(await within(1_000, fromSeven.otherMetrics())).toEqual({
      metrics: [metricsOf(1), metricsOf(20)],
      late: [8],
    });
    // The primary stuck: its last answer (its own and the other workers') stands in for every thread it reaches.
    primary.serveFrom({ modelStore: null as never, ownMetrics: () => new Promise(() => {}) });
    expect(await within(1_000, fromSeven.otherMetrics())).toEqual({
      metrics: [metricsOf(1), metricsOf(20)],
      late: [threadId, 8],
    });
  });
});
