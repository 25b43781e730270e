import type { HourTotals } from '@elevens/db';
import {
  MONITOR_MAX_MINUTES,
  type MonitorHour,
  type MonitorMinute,
  type MonitorSnapshot,
  type MonitorSource,
  PUSH_STATS_REASONS,
  PUSH_SUPPRESSION_REASONS,
} from '@elevens/domain';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** Hourly bars of a snapshot: the current hour and the 23 before it. */
export const MONITOR_HOURS = 24;

/** Per-minute sums of fixed-width vectors for the last `capacity` minutes, in one typed array. */
export class MinuteRing {
  private readonly values: Float64Array;
  /** the minute (epoch minutes) each slot holds; NaN: none */
  private readonly minutes: Float64Array;
  private newestMinute = Number.NEGATIVE_INFINITY;

  constructor(
    readonly capacity: number,
    readonly width: number,
  ) {
    this.values = new Float64Array(capacity * width);
    this.minutes = new Float64Array(capacity).fill(Number.NaN);
  }

  /** Adds `vector` to the minute's sums; a minute older than the ring holds is dropped. */
  add(minute: number, vector: ArrayLike<number>): void {
    if (minute <= this.newestMinute - this.capacity) return;
    const slot = ((minute % this.capacity) + this.capacity) % this.capacity;
    const offset = slot * this.width;
    if (this.minutes[slot] !== minute) {
      // The slot holds a minute at least `capacity` older (or none): it is reused.
      this.values.fill(0, offset, offset + this.width);
      this.minutes[slot] = minute;
    }
    for (let i = 0; i < this.width; i++) this.values[offset + i]! += vector[i] ?? 0;
    if (minute > this.newestMinute) this.newestMinute = minute;
  }

  /** The minute's sums (zeros for a minute with none or no longer held), a view valid until the next add. */
  read(minute: number): Float64Array {
    const slot = ((minute % this.capacity) + this.capacity) % this.capacity;
    if (this.minutes[slot] !== minute || minute <= this.newestMinute - this.capacity) {
      return new Float64Array(this.width);
    }
    return this.values.subarray(slot * this.width, (slot + 1) * this.width);
  }
}

/**
 * What appeared between two readings of hourly counters (a hour → vector map each): per hour and field the rise,
 * never a fall (a roll-up rebuild may lower an hour), summed over the hours of `current`. An hour not in
 * `previous` starts from zero: it entered the window read, as the window moves forward with the clock.
 */
export function hourlyRise(
  previous: ReadonlyMap<number, ArrayLike<number>>,
  current: ReadonlyMap<number, ArrayLike<number>>,
  width: number,
): Float64Array {
  const rise = new Float64Array(width);
  for (const [hour, now] of current) {
    const before = previous.get(hour);
    for (let i = 0; i < width; i++) {
      const delta = (now[i] ?? 0) - (before?.[i] ?? 0);
      if (delta > 0) rise[i]! += delta;
    }
  }
  return rise;
}

/** Rise of cumulative counters (a missing earlier value counts as 0; a fall, as after a reset, as none). */
export function counterRise(previous: ArrayLike<number> | null, current: ArrayLike<number>): Float64Array {
  const rise = new Float64Array(current.length);
  for (let i = 0; i < current.length; i++) rise[i] = Math.max(0, current[i]! - (previous?.[i] ?? 0));
  return rise;
}

/**
 * The q-quantile of a histogram (`cumulative[i]` = observations ≤ `bounds[i]`, the last bound +Inf), by linear
 * interpolation inside the bucket where the rank falls, as Prometheus' histogram_quantile: a rank in the +Inf
 * bucket answers the highest finite bound. null without observations.
 */
export function histogramQuantile(
  q: number,
  bounds: ArrayLike<number>,
  cumulative: ArrayLike<number>,
): number | null {
  const n = bounds.length;
  const total = n === 0 ? 0 : cumulative[n - 1]!;
  if (!(total > 0)) return null;
  const rank = q * total;
  let i = 0;
  while (i < n - 1 && cumulative[i]! < rank) i++;
  const upper = bounds[i]!;
  if (upper === Number.POSITIVE_INFINITY) return n >= 2 ? bounds[n - 2]! : 0;
  const lower = i === 0 ? 0 : bounds[i - 1]!;
  const below = i === 0 ? 0 : cumulative[i - 1]!;
  const inBucket = cumulative[i]! - below;
  if (inBucket <= 0) return upper;
  return lower + ((upper - lower) * (rank - below)) / inBucket;
}

/** Cumulative HTTP counters of this process, over the routes the monitor counts. */
export interface HttpCounters {
  requests: number;
  /** answered 5xx */
  errors: number;
  /** latency bucket upper bounds in seconds, +Inf last; empty before the first request */
  bounds: readonly number[];
  /** requests at most each bound's latency */
  cumulative: Float64Array;
}

/**
 * Everything the monitor reads at one instant: cumulative counters only, the rates are its own. Each source is
 * read on its own: null where it could not be read (Postgres or Redis away).
 */
export interface MonitorReading {
  atMs: number;
  /** roll-up watermark (null: none yet) */
  watermarkMs: number | null;
  /** roll-up totals of the hours read (hours without rows are absent) */
  hours: readonly HourTotals[] | null;
  /** push decisions and releases of the hours read, by hour and PUSH_STATS_REASONS index (every api process) */
  push: ReadonlyMap<number, ArrayLike<number>> | null;
  http: HttpCounters | null;
}

/**
 * One source's latest reading, and the minutes its rises were not measured in: a source unread for longer than
 * `gapMs` has its rise at the next reading dropped (it spans minutes it could not be seen in, and would chart as
 * a spike in one), and those minutes are reported as unavailable. A shorter gap (one timed-out read) loses
 * nothing: the next reading's rise covers it.
 */
class SourceTrack<T> {
  /** the latest reading and when it was taken; null before the first */
  last: { atMs: number; value: T } | null = null;
  /** whether the latest sample read it */
  available = false;
  /** when the reading before the current failures was taken (or sampling began); null: none failing */
  private failingSinceMs: number | null = null;
  /** closed spans of minutes (inclusive) not measured, oldest first */
  private readonly gaps: { from: number; until: number }[] = [];

  constructor(
    private readonly gapMs: number,
    private readonly capacity: number,
  ) {}

  /** Takes a sample's reading (null: not read); returns the earlier value to measure the rise from, if any. */
  take(atMs: number, value: T | null, firstAtMs: number): T | null {
    const previous = this.last;
    this.available = value !== null;
    if (value === null) {
      this.failingSinceMs ??= previous?.atMs ?? firstAtMs;
      return null;
    }
    this.last = { atMs, value };
    const since = this.failingSinceMs;
    this.failingSinceMs = null;
    const latest = minuteOf(atMs);
    while (this.gaps.length > 0 && this.gaps[0]!.until <= latest - this.capacity) this.gaps.shift();
    if (since !== null && (previous === null || atMs - since > this.gapMs)) {
      this.gaps.push({ from: minuteOf(since), until: latest });
      return null;
    }
    return previous?.value ?? null;
  }

  /** Whether the source's rises of `minute` were not (all) measured, as of a sample at `latestAtMs`. */
  missed(minute: number, latestAtMs: number): boolean {
    const since = this.failingSinceMs;
    if (since !== null && latestAtMs - since > this.gapMs && minute >= minuteOf(since)) return true;
    return this.gaps.some((gap) => gap.from <= minute && minute <= gap.until);
  }
}

const minuteOf = (ms: number) => Math.floor(ms / MINUTE_MS);

const ROLLUP_FIELDS = ['events', 'impressions', 'clicks', 'carts', 'purchases', 'units', 'revenue'] as const;
const ROLLUP_WIDTH = ROLLUP_FIELDS.length;
const PUSH_AT = ROLLUP_WIDTH;
const REQUESTS_AT = PUSH_AT + PUSH_STATS_REASONS.length;
const ERRORS_AT = REQUESTS_AT + 1;
/** Per-minute counts: roll-up fields, push decisions by reason and releases, requests, errors. */
const COUNTS_WIDTH = ERRORS_AT + 1;
const field = (name: (typeof ROLLUP_FIELDS)[number]) => ROLLUP_FIELDS.indexOf(name);

const rollupVector = (hour: HourTotals) => Float64Array.from(ROLLUP_FIELDS, (name) => hour[name]);
const ratio = (part: number, whole: number) => (whole > 0 ? part / whole : null);
const cents = (amount: number) => Math.round(amount * 100) / 100;
const iso = (ms: number) => new Date(ms).toISOString();

export interface LiveMonitorOptions {
  /** reads the counters at the given instant */
  read: (atMs: number) => Promise<MonitorReading>;
  now: () => number;
  /** how often the plugin samples; reported to clients */
  sampleEveryMs: number;
  /** minutes kept; default MONITOR_MAX_MINUTES */
  capacity?: number;
}

/**
 * The live festival monitor: cumulative counters sampled every few seconds (roll-ups, push decision counts,
 * this process's HTTP histogram) and turned into per-minute figures by the rise between samples, as
 * Prometheus' rate() does, kept for the last two hours in typed arrays. Each rise counts in the minute of the
 * sample that saw it. Each source is followed on its own, so one that cannot be read leaves the others' figures
 * whole.
 */
export class LiveMonitor {
  private readonly counts: MinuteRing;
  private latency: MinuteRing | null = null;
  private bounds: readonly number[] = [];
  private readonly rollups: SourceTrack<{ watermarkMs: number | null; hours: Map<number, Float64Array> }>;
  private readonly push: SourceTrack<ReadonlyMap<number, ArrayLike<number>>>;
  private readonly http: SourceTrack<HttpCounters>;
  private latestAtMs: number | null = null;
  private firstAtMs: number | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: LiveMonitorOptions) {
    this.counts = new MinuteRing(options.capacity ?? MONITOR_MAX_MINUTES, COUNTS_WIDTH);
    // As the endpoint: three missed samples make a gap.
    const gapMs = 3 * options.sampleEveryMs;
    this.rollups = new SourceTrack(gapMs, this.counts.capacity);
    this.push = new SourceTrack(gapMs, this.counts.capacity);
    this.http = new SourceTrack(gapMs, this.counts.capacity);
  }

  /** When the latest sample was read (epoch ms); null before any. */
  get sampledAtMs(): number | null {
    return this.latestAtMs;
  }

  /** Reads the counters now and records what rose since the last sample; samples run one at a time. */
  sample(): Promise<void> {
    const run = this.queue.then(async () => this.record(await this.options.read(this.options.now())));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Records one reading (a source's first is its baseline: nothing rose before it). */
  record(reading: MonitorReading): void {
    const atMs = reading.atMs;
    const minute = minuteOf(atMs);
    this.firstAtMs ??= atMs;
    this.latestAtMs = atMs;
    const vector = new Float64Array(COUNTS_WIDTH);

    const hours =
      reading.hours === null ? null : new Map(reading.hours.map((h) => [h.hourMs, rollupVector(h)]));
    const rollupsBefore = this.rollups.take(
      atMs,
      hours === null ? null : { watermarkMs: reading.watermarkMs, hours },
      this.firstAtMs,
    );
    if (hours !== null && rollupsBefore !== null)
      vector.set(hourlyRise(rollupsBefore.hours, hours, ROLLUP_WIDTH), 0);

    const pushBefore = this.push.take(atMs, reading.push, this.firstAtMs);
    if (reading.push !== null && pushBefore !== null)
      vector.set(hourlyRise(pushBefore, reading.push, PUSH_STATS_REASONS.length), PUSH_AT);

    const http = reading.http;
    if (http !== null && http.bounds.length > 0 && !sameBounds(http.bounds, this.bounds)) {
      this.bounds = http.bounds;
      this.latency = new MinuteRing(this.counts.capacity, http.bounds.length);
    }
    const before = this.http.take(atMs, http, this.firstAtMs);
    if (http !== null && before !== null) {
      vector[REQUESTS_AT] = Math.max(0, http.requests - before.requests);
      vector[ERRORS_AT] = Math.max(0, http.errors - before.errors);
      if (this.latency !== null) {
        const earlier = sameBounds(before.bounds, this.bounds) ? before.cumulative : null;
        this.latency.add(minute, counterRise(earlier, http.cumulative));
      }
    }
    this.counts.add(minute, vector);
  }

  /**
   * The last `minutes` minutes up to the latest sample's (none before the first sample's: nothing was measured
   * then) and the roll-ups' last 24 hours as last read (none if never); null before any sample.
   */
  snapshot(minutes: number): MonitorSnapshot | null {
    if (this.latestAtMs === null || this.firstAtMs === null) return null;
    const latestAtMs = this.latestAtMs;
    const latestMinute = minuteOf(latestAtMs);
    const count = Math.min(minutes, this.counts.capacity);
    const firstMinute = Math.max(latestMinute - count + 1, minuteOf(this.firstAtMs));
    const list: MonitorMinute[] = [];
    for (let m = firstMinute; m <= latestMinute; m++) {
      list.push(this.minuteView(m, m < latestMinute, latestAtMs));
    }
    const rollups = this.rollups.last;
    const hours: MonitorHour[] = [];
    if (rollups !== null) {
      const latestHour = Math.floor(rollups.atMs / HOUR_MS);
      for (let h = latestHour - MONITOR_HOURS + 1; h <= latestHour; h++) {
        const v = rollups.value.hours.get(h * HOUR_MS) ?? new Float64Array(ROLLUP_WIDTH);
        const impressions = v[field('impressions')]!;
        const clicks = v[field('clicks')]!;
        hours.push({
          hour: iso(h * HOUR_MS),
          events: v[field('events')]!,
          impressions,
          clicks,
          ctr: ratio(clicks, impressions),
          carts: v[field('carts')]!,
          orders: v[field('purchases')]!,
          units: v[field('units')]!,
          revenue: cents(v[field('revenue')]!),
        });
      }
    }
    const watermarkMs = rollups?.value.watermarkMs ?? null;
    const state = (track: SourceTrack<unknown>) => ({
      available: track.available,
      readAt: track.last === null ? null : iso(track.last.atMs),
    });
    return {
      at: iso(latestAtMs),
      sampleEveryMs: this.options.sampleEveryMs,
      sampledSince: iso(this.firstAtMs),
      countedUntil: watermarkMs === null ? null : iso(watermarkMs),
      sources: { rollups: state(this.rollups), push: state(this.push), http: state(this.http) },
      minutes: list,
      hours,
    };
  }

  private minuteView(minute: number, complete: boolean, latestAtMs: number): MonitorMinute {
    const v = this.counts.read(minute);
    const unavailable: MonitorSource[] = [];
    const known = (source: MonitorSource, track: SourceTrack<unknown>) => {
      if (!track.missed(minute, latestAtMs)) return true;
      unavailable.push(source);
      return false;
    };
    const rollups = known('rollups', this.rollups);
    const push = known('push', this.push);
    const http = known('http', this.http);
    const impressions = v[field('impressions')]!;
    const clicks = v[field('clicks')]!;
    const requests = v[REQUESTS_AT]!;
    const errors = v[ERRORS_AT]!;
    const pushSuppressed: Record<string, number> = {};
    for (const reason of PUSH_SUPPRESSION_REASONS) {
      pushSuppressed[reason] = v[PUSH_AT + PUSH_STATS_REASONS.indexOf(reason)]!;
    }
    // Allowed less released: a release seen in a later minute than its decision takes its send back there.
    const pushSent =
      v[PUSH_AT + PUSH_STATS_REASONS.indexOf('ok')]! - v[PUSH_AT + PUSH_STATS_REASONS.indexOf('released')]!;
    const buckets = this.latency?.read(minute);
    const quantile = (q: number) =>
      buckets === undefined ? null : histogramQuantile(q, this.bounds, buckets);
    const p50 = quantile(0.5);
    return {
      minute: iso(minute * MINUTE_MS),
      complete,
      unavailable,
      events: rollups ? v[field('events')]! : null,
      impressions: rollups ? impressions : null,
      clicks: rollups ? clicks : null,
      ctr: rollups ? ratio(clicks, impressions) : null,
      orders: rollups ? v[field('purchases')]! : null,
      revenue: rollups ? cents(v[field('revenue')]!) : null,
      pushSent: push ? pushSent : null,
      pushSuppressed: push ? pushSuppressed : null,
      requests: http ? requests : null,
      errors: http ? errors : null,
      errorRate: http ? ratio(errors, requests) : null,
      latencyMs:
        !http || p50 === null
          ? null
          : { p50: p50 * 1000, p95: (quantile(0.95) ?? 0) * 1000, p99: (quantile(0.99) ?? 0) * 1000 },
    };
  }
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((bound, i) => bound === b[i]);
}
