import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { type LoadRequest, nextRequest, type Population, TARGET_SERVICE } from './requests';
import { NO_RESPONSE, SampleLog } from './samples';
import {
  type DueRequest,
  dueRequests,
  type LoadStep,
  TRAFFIC_KINDS,
  type TrafficKind,
  type TrafficMix,
} from './scenario';

export interface LoadRunOptions {
  steps: readonly LoadStep[];
  mix: TrafficMix;
  urls: { api: string; ingest: string };
  apiKey?: string;
  population: Population;
  /** most connections per kind, opened as the load needs them */
  maxConnections: number;
  /** seconds from when a request was due (a wait for a connection included) before it counts as unanswered */
  timeoutSeconds: number;
  onStep?: (step: LoadStep, index: number) => void;
}

/**
 * Open-loop pacing: calls `send` for each request of `schedule` once its time (ms after `startedAt`, a
 * performance.now() time) has come, and never earlier, whatever became of the ones before; resolves once the last
 * is sent. `send` gets the time its request was found due: a timer finds requests due about once a millisecond,
 * and its lateness is the sender's, not the server's. Times are from `startedAt`, so a late timer does not
 * stretch the schedule: what fell due meanwhile goes out at once.
 */
async function sendOnSchedule(
  schedule: Iterator<DueRequest>,
  startedAt: number,
  send: (step: number, foundDueAt: number) => void,
): Promise<void> {
  let next = schedule.next();
  while (!next.done) {
    const now = performance.now();
    for (; !next.done && startedAt + next.value.atMs <= now; next = schedule.next())
      send(next.value.step, now);
    if (!next.done) await sleep(Math.max(0, startedAt + next.value.atMs - performance.now()));
  }
}

/**
 * Open-loop pacing at one rate: calls `send` `round(rate × durationMs / 1000)` times, the i-th (from 0) once
 * (i + ½) / rate seconds have passed since the call, and never earlier, whatever became of the ones before;
 * resolves once the last is sent. `send` gets the time (performance.now()) its request was found due.
 */
export async function sendPaced(
  rate: number,
  durationMs: number,
  send: (foundDueAt: number) => void,
): Promise<void> {
  const schedule = dueRequests([{ phase: 'paced', startMs: 0, durationMs, rate }], 1);
  await sendOnSchedule(schedule, performance.now(), (_, foundDueAt) => send(foundDueAt));
}

/** What became of one request: its status and, for a failure whose message was wanted, why. */
interface Outcome {
  status: number;
  /** for no answer: the error's code (`timeout` for any timeout), so different causes are counted apart */
  code?: string;
  message?: string;
}

/** An error answer's `message` field, or else its body on one line, cut short. */
function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed?.message === 'string') return parsed.message;
  } catch {
    // Not JSON: the body itself says why.
  }
  const text = body.replace(/\s+/g, ' ').trim();
  return text === '' ? '(empty body)' : text.slice(0, 200);
}

/**
 * Sends one request on `pool`. The timeout runs from the call, not from when a connection took the request, so
 * one queued behind a stalled service fails on time too and a run ends at most that long after its last request
 * was due (undici's own timeouts start only once the request is written).
 */
async function sendOne(
  pool: Pool,
  { method, path, body }: LoadRequest,
  headers: Record<string, string>,
  timeoutSeconds: number,
  wantMessage: (status: number) => boolean,
): Promise<Outcome> {
  try {
    const answer = await pool.request({
      method,
      path,
      headers,
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
    const status = answer.statusCode;
    if ((status >= 200 && status < 300) || !wantMessage(status)) {
      await answer.body.dump();
      return { status };
    }
    return { status, message: messageOf(await answer.body.text()) };
  } catch (error) {
    const { code, name, message } = error as { code?: string; name?: string; message?: string };
    if (name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
      return { status: NO_RESPONSE, code: 'timeout', message: `no answer within ${timeoutSeconds} s` };
    return { status: NO_RESPONSE, code: code ?? name ?? 'error', message: message ?? String(error) };
  }
}

const headersOf = (apiKey: string | undefined): Record<string, string> => ({
  'content-type': 'application/json',
  ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
});

/** A target that cannot take the load, found before any is sent; `status` when it answered. */
export class LoadTargetError extends Error {
  override name = 'LoadTargetError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * Sends one request of each kind in the mix before the run: a service that is down, or that refuses every request
 * of a kind (a 4xx other than 429: no key, a missing scope, a request it does not know), would fail the whole run
 * the same way, so it stops here with one LoadTargetError instead.
 */
export async function checkTargets(
  options: Pick<LoadRunOptions, 'mix' | 'urls' | 'apiKey' | 'population' | 'timeoutSeconds'>,
): Promise<void> {
  for (const kind of TRAFFIC_KINDS.filter((k) => options.mix[k] > 0)) {
    const service = TARGET_SERVICE[kind];
    const url = options.urls[service];
    const request = nextRequest(kind, options.population);
    const pool = new Pool(url, { connections: 1 });
    let outcome: Outcome;
    try {
      outcome = await sendOne(pool, request, headersOf(options.apiKey), options.timeoutSeconds, () => true);
    } finally {
      await pool.close();
    }
    if (outcome.status === NO_RESPONSE)
      throw new LoadTargetError(`cannot reach the ${service} at ${url}: ${outcome.message}`);
    if (outcome.status >= 400 && outcome.status < 500 && outcome.status !== 429)
      throw new LoadTargetError(
        `the ${service} at ${url} answered ${outcome.status} to ${request.method} ${request.path.split('?')[0]}: ${outcome.message}`,
        outcome.status,
      );
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
  const headers = headersOf(options.apiKey);
  const runStartMs = performance.now();
  const inFlight = new Set<Promise<void>>();
  const request = async (kind: TrafficKind, stepIndex: number, foundDueAt: number) => {
    const kindIndex = TRAFFIC_KINDS.indexOf(kind);
    const { status, code, message } = await sendOne(
      pools.get(kind)!,
      nextRequest(kind, options.population),
      headers,
      options.timeoutSeconds,
      (answered) => log.isNewFailure(kindIndex, answered),
    );
    const now = performance.now();
    log.add(now - runStartMs, status === NO_RESPONSE ? 0 : now - foundDueAt, status, kindIndex, stepIndex);
    if (status < 200 || status >= 300) log.addFailure(kindIndex, status, message ?? '', code);
  };
  const announceSteps = async () => {
    for (const [index, step] of options.steps.entries()) {
      const waitMs = runStartMs + step.startMs - performance.now();
      if (waitMs > 0) await sleep(waitMs);
      options.onStep?.(step, index);
    }
  };
  try {
    // Each kind on its own schedule over the whole run, so a kind offered less than one request a step still
    // gets its share.
    await Promise.all([
      ...(options.onStep ? [announceSteps()] : []),
      ...[...pools.keys()].map((kind) =>
        sendOnSchedule(dueRequests(options.steps, options.mix[kind]), runStartMs, (step, foundDueAt) => {
          const sent = request(kind, step, foundDueAt).finally(() => inFlight.delete(sent));
          inFlight.add(sent);
        }),
      ),
    ]);
    await Promise.all(inFlight);
  } finally {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
  }
  return log;
}
