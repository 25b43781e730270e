import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { nextRequest, type Population, TARGET_SERVICE } from './requests';
import { NO_RESPONSE, SampleLog } from './samples';
import { type LoadStep, TRAFFIC_KINDS, type TrafficKind, type TrafficMix } from './scenario';

export interface LoadRunOptions {
  steps: readonly LoadStep[];
  mix: TrafficMix;
  urls: { api: string; ingest: string };
  apiKey?: string;
  population: Population;
  /** most connections per kind, opened as the load needs them */
  maxConnections: number;
  /** seconds before an unanswered request counts as an error */
  timeoutSeconds: number;
  onStep?: (step: LoadStep, index: number) => void;
}

/**
 * Open-loop pacing: calls `send` `round(rate × durationMs / 1000)` times, the i-th once i / rate seconds have
 * passed since the call, and never earlier, whatever became of the ones before; resolves once the last is sent.
 * `send` gets the time (performance.now()) its request was found due: a timer finds requests due about once a
 * millisecond, and its lateness is the sender's, not the server's.
 */
export async function sendPaced(
  rate: number,
  durationMs: number,
  send: (foundDueAt: number) => void,
): Promise<void> {
  const total = Math.round((rate * durationMs) / 1000);
  if (total === 0) return;
  const intervalMs = 1000 / rate;
  const started = performance.now();
  let next = 0;
  while (next < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - started) / intervalMs) + 1);
    for (; next < due; next++) send(now);
    if (next < total) await sleep(Math.max(0, started + next * intervalMs - performance.now()));
  }
}

/** A connection pool per kind of traffic, to the service that takes it. */
function poolsFor(options: LoadRunOptions): Map<TrafficKind, Pool> {
  const timeoutMs = options.timeoutSeconds * 1000;
  return new Map(
    TRAFFIC_KINDS.filter((kind) => options.mix[kind] > 0).map((kind) => [
      kind,
      new Pool(options.urls[TARGET_SERVICE[kind]], {
        connections: options.maxConnections,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      }),
    ]),
  );
}

/**
 * Runs the steps in order, each kind at its share of the step's rate, open loop: requests go out on schedule
 * whatever the latency (a request waiting for a free connection waits on the clock), so a service that falls
 * behind shows it in its latency instead of being asked less. A response time counts from when its request was
 * found due; every answer and failure goes into the log.
 */
export async function runLoad(options: LoadRunOptions): Promise<SampleLog> {
  const log = new SampleLog();
  const pools = poolsFor(options);
  const headers = {
    'content-type': 'application/json',
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
  };
  const runStartMs = performance.now();
  const inFlight = new Set<Promise<void>>();
  const request = async (kind: TrafficKind, stepIndex: number, foundDueAt: number) => {
    const { method, path, body } = nextRequest(kind, options.population);
    let status = NO_RESPONSE;
    try {
      const answer = await pools.get(kind)!.request({ method, path, headers, ...(body ? { body } : {}) });
      await answer.body.dump();
      status = answer.statusCode;
    } catch {
      // No answer (refused, reset or timed out): logged as NO_RESPONSE.
    }
    const now = performance.now();
    log.add(
      now - runStartMs,
      status === NO_RESPONSE ? 0 : now - foundDueAt,
      status,
      TRAFFIC_KINDS.indexOf(kind),
      stepIndex,
    );
  };
  try {
    for (const [index, step] of options.steps.entries()) {
      options.onStep?.(step, index);
      const kinds = TRAFFIC_KINDS.filter((k) => options.mix[k] > 0 && step.rate * options.mix[k] >= 0.5);
      // Steps are timed from the run's start, so a late timer does not stretch the schedule.
      const remainingMs = step.startMs + step.durationMs - (performance.now() - runStartMs);
      if (remainingMs <= 0) continue;
      await Promise.all(
        kinds.map((kind) =>
          sendPaced(step.rate * options.mix[kind], remainingMs, (foundDueAt) => {
            const sent = request(kind, index, foundDueAt).finally(() => inFlight.delete(sent));
            inFlight.add(sent);
          }),
        ),
      );
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
  }
  return log;
}
