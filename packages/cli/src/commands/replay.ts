import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRetryAfter } from '@elevens/client';
import { MAX_TIMER_MS, parseDuration } from '@elevens/config';
import type { ImportEventRow } from '@elevens/db';
import cliProgress from 'cli-progress';
import { noEventProblem } from '../no-events';
import { httpUrlFlag, UserError } from '../run';
import { csvLineParser, fileSize, type LineParser, parseTaobaoLine } from './import';

export interface ReplayOptions {
  /** ingest base URL, e.g. http://127.0.0.1:3001 */
  target: string;
  /** multiple of real time: 60 sends an hour of events in a minute */
  speed: number;
  format: 'taobao' | 'csv';
  limit?: number;
  /** events per request at most */
  batchSize?: number;
  /** requests in flight at most */
  concurrency?: number;
  apiKey?: string;
  /** how long a batch answered 429 or 503 is sent again (after each answer's Retry-After); default 60 s */
  retryForMs?: number;
  /** a request unanswered this long fails (`timeout`); default 30 s */
  timeoutMs?: number;
  onProgress?: (bytesRead: number, sent: number) => void;
  /** the schedule's clock; default `performance.now` and a timer */
  clock?: ReplayClock;
}

/** What replay reads the time from and waits with (a test's clock can run days in no time). */
export interface ReplayClock {
  /** milliseconds from any fixed origin */
  now(): number;
  /** resolves after `ms` milliseconds, at most MAX_TIMER_MS (a timer asked for longer fires at once) */
  sleep(ms: number): Promise<void>;
}

const timerClock: ReplayClock = { now: () => performance.now(), sleep: (ms) => sleep(ms) };

/**
 * Resolves once `clock` reaches `dueMs`: a wait longer than a timer can hold (24.8 days, a slow `--speed` over a
 * gap of the file) goes in steps of at most MAX_TIMER_MS, each measured again from the clock.
 */
async function sleepUntil(clock: ReplayClock, dueMs: number): Promise<void> {
  for (let wait = dueMs - clock.now(); wait > 0; wait = dueMs - clock.now())
    await clock.sleep(Math.min(wait, MAX_TIMER_MS));
}

export interface ReplayReport {
  events: number;
  /** lines not sent because they hold no valid event (e.g. a time before 1970 or over a day ahead) */
  skipped: number;
  /** the first few skipped lines, with their reason */
  skippedExamples: string[];
  /** batches sent; a batch sent again counts once here and once per resend in `retries` */
  requests: number;
  /** batches sent again after a 429 or 503 */
  retries: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** failed requests, after their retries: non-2xx answers by status, "timeout" or "network" */
  errors: Record<string, number>;
  /** events of failed requests that ingest did not list as rejected: not stored, as far as replay knows */
  undelivered: number;
  seconds: number;
  eventsPerSecond: number;
  /** the rate the schedule asked for: events / (span of their timestamps / speed) */
  scheduledEventsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** how far sending fell behind the schedule at worst */
  maxLagMs: number;
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Answers that ask the client to come back later; anything else is final. */
const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 503]);
/** the wait when an answer's Retry-After is absent or no Retry-After (RFC 9110): `parseRetryAfter` gives none */
const DEFAULT_RETRY_AFTER_MS = 1_000;

const toWire = (e: ImportEventRow) => ({
  eventId: e.eventId,
  userId: e.userId,
  itemId: e.itemId,
  type: e.type,
  timestamp: e.timestampMs,
  ...(e.sessionId === null ? {} : { sessionId: e.sessionId }),
});

/**
 * Sends a time-ordered event file to the ingest API as it happened, `speed` times faster: the events due by the
 * time a request leaves go out together (up to `batchSize`), with at most `concurrency` requests in flight. A
 * batch answered 429 or 503 is sent again after Retry-After, keeping its slot (so replay slows down with ingest),
 * until `retryForMs` would be outlasted: its event ids make a resend store nothing twice.
 */
export async function replayFile(path: string, options: ReplayOptions): Promise<ReplayReport> {
  const batchSize = options.batchSize ?? 500;
  const concurrency = options.concurrency ?? 16;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const retryForMs = options.retryForMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const clock = options.clock ?? timerClock;
  const url = `${options.target.replace(/\/$/, '')}/v1/events`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const counts = {
    events: 0,
    skipped: 0,
    requests: 0,
    retries: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    undelivered: 0,
  };
  const inFlight = new Set<Promise<void>>();
  const fail = (reason: string, events: number) => {
    errors[reason] = (errors[reason] ?? 0) + 1;
    counts.undelivered += events;
  };
  const deliver = async (batch: ImportEventRow[]) => {
    const body = JSON.stringify({ events: batch.map(toWire) });
    const giveUpAt = clock.now() + retryForMs;
    for (;;) {
      const started = performance.now();
      let response: Response;
      let answer: {
        accepted?: number;
        duplicates?: number;
        rejected?: unknown[];
        details?: { rejected?: unknown[] };
      } | null;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        answer = (await response.json().catch(() => null)) as typeof answer;
      } catch (error) {
        fail((error as Error).name === 'TimeoutError' ? 'timeout' : 'network', batch.length);
        return;
      }
      latencies.push(performance.now() - started);
      if (RETRY_STATUSES.has(response.status)) {
        const waitMs = parseRetryAfter(response.headers.get('retry-after')) ?? DEFAULT_RETRY_AFTER_MS;
        if (clock.now() + waitMs <= giveUpAt) {
          counts.retries++;
          await clock.sleep(waitMs);
          continue;
        }
      }
      if (response.ok) {
        counts.accepted += answer?.accepted ?? 0;
        counts.duplicates += answer?.duplicates ?? 0;
        counts.rejected += answer?.rejected?.length ?? 0;
      } else {
        const rejected = answer?.details?.rejected?.length ?? 0;
        counts.rejected += rejected;
        fail(String(response.status), batch.length - rejected);
      }
      return;
    }
  };
  const send = (batch: ImportEventRow[]) => {
    counts.requests++;
    const request = deliver(batch).finally(() => inFlight.delete(request));
    inFlight.add(request);
  };

  const input = createReadStream(path);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let parse: LineParser | null = options.format === 'taobao' ? (line) => parseTaobaoLine(line) : null;
  let firstEventMs: number | null = null;
  let lastEventMs = 0;
  let maxLagMs = 0;
  let batch: ImportEventRow[] = [];
  let batchDue = 0;
  let lineNumber = 0;
  const skippedExamples: string[] = [];
  const started = clock.now();
  const flush = async () => {
    if (batch.length === 0) return;
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    maxLagMs = Math.max(maxLagMs, clock.now() - batchDue);
    send(batch);
    batch = [];
  };
  try {
    for await (const line of lines) {
      lineNumber++;
      if (parse === null) {
        parse = csvLineParser(line);
        continue;
      }
      const event = parse(line, lineNumber);
      if (event === null) continue;
      if ('skip' in event) {
        counts.skipped++;
        if (skippedExamples.length < 5) skippedExamples.push(`line ${lineNumber}: ${event.skip}`);
        continue;
      }
      if (counts.events >= limit) break;
      firstEventMs ??= event.timestampMs;
      lastEventMs = Math.max(lastEventMs, event.timestampMs);
      const due = started + (event.timestampMs - firstEventMs) / options.speed;
      // A batch holds the events already due; behind schedule it fills up to batchSize, which lets it catch up.
      if (batch.length >= batchSize) await flush();
      if (due > clock.now()) {
        await flush();
        // Measured after the flush: waiting there for a free request slot counts towards this event's wait.
        await sleepUntil(clock, due);
      }
      if (batch.length === 0) batchDue = due;
      batch.push(event);
      counts.events++;
      if (counts.events % 1_000 === 0) options.onProgress?.(input.bytesRead, counts.events);
    }
    await flush();
    await Promise.all(inFlight);
  } finally {
    lines.close();
    input.destroy();
  }
  options.onProgress?.(input.bytesRead, counts.events);
  const seconds = (clock.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const spanSeconds = firstEventMs === null ? 0 : (lastEventMs - firstEventMs) / 1000 / options.speed;
  return {
    ...counts,
    skippedExamples,
    errors,
    seconds,
    eventsPerSecond: counts.events / Math.max(seconds, 1e-3),
    scheduledEventsPerSecond: spanSeconds > 0 ? counts.events / spanSeconds : 0,
    latencyMs: {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? 0,
    },
    maxLagMs,
  };
}

export const formatReplayReport = (r: ReplayReport) => {
  const errorText = Object.entries(r.errors)
    .map(([status, n]) => `${n}× ${status}`)
    .join(', ');
  return [
    `replayed ${r.events} events in ${r.requests} requests over ${r.seconds.toFixed(1)}s: ` +
      `${Math.round(r.eventsPerSecond)} events/s (schedule asked for ${Math.round(r.scheduledEventsPerSecond)})`,
    `  accepted ${r.accepted}, duplicates ${r.duplicates}, rejected ${r.rejected}, ` +
      `${r.retries} requests sent again after 429 or 503, failed requests ${errorText || 'none'}` +
      (r.undelivered > 0 ? ` (${r.undelivered} events not delivered)` : ''),
    `  latency p50 ${r.latencyMs.p50.toFixed(1)} ms, p95 ${r.latencyMs.p95.toFixed(1)} ms, ` +
      `p99 ${r.latencyMs.p99.toFixed(1)} ms, max ${r.latencyMs.max.toFixed(1)} ms; ` +
      `worst lag behind schedule ${r.maxLagMs.toFixed(0)} ms`,
    `  ${r.skipped} lines skipped, not sent` +
      r.skippedExamples.map((example) => `\n  skipped ${example}`).join(''),
  ].join('\n');
};

export interface ReplayFlags {
  speed: string;
  target: string;
  format: 'taobao' | 'csv';
  limit?: string;
  batchSize: string;
  concurrency: string;
  retryFor: string;
  apiKey?: string;
  allowEmpty?: boolean;
}

const positive = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UserError(`${name} must be a positive number, got ${text}`);
  return n;
};

/**
 * `--retry-for`: at most the longest a timer waits, as no Retry-After longer than it can be waited out (a longer
 * sleep fires after 1 ms, so the batch was sent again without pause until --retry-for ran out).
 */
function retryForFlag(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    throw new UserError(`--retry-for: ${(error as Error).message}`);
  }
  if (ms > MAX_TIMER_MS)
    throw new UserError(
      `--retry-for must be at most 24d (the longest a timer waits), got ${JSON.stringify(text)}`,
    );
  return ms;
}

/** A count flag: a positive number, its whole part at least 1 (0.5 in flight would send nothing, forever). */
const count = (name: string, text: string) => {
  const n = Math.floor(positive(name, text));
  if (n < 1) throw new UserError(`${name} must be at least 1, got ${text}`);
  return n;
};

/** `elevens replay <file>`. */
export async function replayCommand(file: string, flags: ReplayFlags) {
  const target = httpUrlFlag('--target', flags.target, 'http://127.0.0.1:3001');
  const options = {
    target,
    speed: positive('--speed', flags.speed),
    format: flags.format,
    batchSize: count('--batch-size', flags.batchSize),
    concurrency: count('--concurrency', flags.concurrency),
    retryForMs: retryForFlag(flags.retryFor),
    ...(flags.limit === undefined ? {} : { limit: count('--limit', flags.limit) }),
    ...(flags.apiKey ? { apiKey: flags.apiKey } : {}),
  };
  const size = fileSize(file);
  const bar = new cliProgress.SingleBar(
    {
      format: 'replay {bar} {percentage}% | {sent} events sent | {duration_formatted}',
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(size, 0, { sent: 0 });
  try {
    const report = await replayFile(file, {
      ...options,
      onProgress: (bytes, sent) => bar.update(bytes, { sent }),
    });
    bar.stop();
    console.log(formatReplayReport(report));
    const problem = noEventProblem({
      file,
      format: flags.format,
      events: report.events,
      skipped: report.skipped,
      bytes: size,
      allowEmpty: flags.allowEmpty === true,
      done: 'replayed',
    });
    if (problem !== null) throw new UserError(problem);
    if (Object.keys(report.errors).length > 0) process.exitCode = 1;
  } finally {
    bar.stop();
  }
}
