import autocannon from 'autocannon';
import { type Population, requestFor, TARGET_SERVICE } from './requests';
import { NO_RESPONSE, SampleLog } from './samples';
import { type LoadStep, TRAFFIC_KINDS, type TrafficKind, type TrafficMix } from './scenario';

export interface LoadRunOptions {
  steps: readonly LoadStep[];
  mix: TrafficMix;
  urls: { api: string; ingest: string };
  apiKey?: string;
  population: Population;
  /** most connections per kind; each is given about 50 requests/s */
  maxConnections: number;
  /** seconds before an unanswered request counts as an error */
  timeoutSeconds: number;
  onStep?: (step: LoadStep, index: number) => void;
}

const REQUESTS_PER_CONNECTION = 50;

/** autocannon at one constant rate for one kind, feeding every response and failure into the log. */
function fire(
  kind: TrafficKind,
  rate: number,
  durationMs: number,
  options: LoadRunOptions,
  log: SampleLog,
  runStartMs: number,
  stepIndex: number,
): Promise<void> {
  const connections = Math.min(
    options.maxConnections,
    Math.max(1, Math.ceil(rate / REQUESTS_PER_CONNECTION)),
  );
  const kindIndex = TRAFFIC_KINDS.indexOf(kind);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.urls[TARGET_SERVICE[kind]],
        connections,
        overallRate: Math.max(1, Math.round(rate)),
        duration: durationMs / 1000,
        // autocannon checks for the end of the run once per sample interval (1 s by default)
        sampleInt: 100,
        timeout: options.timeoutSeconds,
        headers: {
          'content-type': 'application/json',
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        },
        requests: [requestFor(kind, options.population)],
      },
      (error) => (error ? reject(error) : resolve()),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      log.add(Date.now() - runStartMs, responseTime, statusCode, kindIndex, stepIndex);
    });
    instance.on('reqError', () => {
      log.add(Date.now() - runStartMs, 0, NO_RESPONSE, kindIndex, stepIndex);
    });
  });
}

/** Runs the steps in order; within a step, one autocannon instance per kind with a non-zero share. */
export async function runLoad(options: LoadRunOptions): Promise<SampleLog> {
  const log = new SampleLog();
  const runStartMs = Date.now();
  for (const [index, step] of options.steps.entries()) {
    options.onStep?.(step, index);
    const kinds = TRAFFIC_KINDS.filter((k) => options.mix[k] > 0 && step.rate * options.mix[k] >= 0.5);
    // Steps are timed from the run's start so that autocannon's start-up does not stretch the schedule.
    const remainingMs = Math.max(1, step.startMs + step.durationMs - (Date.now() - runStartMs));
    await Promise.all(
      kinds.map((kind) =>
        fire(kind, step.rate * options.mix[kind], remainingMs, options, log, runStartMs, index),
      ),
    );
  }
  return log;
}
