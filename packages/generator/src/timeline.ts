import { DAY_MS, HOUR_MS, type ResolvedGeneratorOptions } from './options';

/** Relative traffic by UTC hour of day: quiet at night, busy in the evening. */
const DIURNAL_RATE = [
  0.35, 0.25, 0.18, 0.14, 0.12, 0.15, 0.25, 0.45, 0.65, 0.8, 0.9, 1.0, 1.1, 1.0, 0.95, 0.95, 1.0, 1.1, 1.3,
  1.5, 1.65, 1.55, 1.2, 0.7,
];
const MEAN_DIURNAL_RATE = DIURNAL_RATE.reduce((a, b) => a + b, 0) / DIURNAL_RATE.length;

/**
 * Maps "fraction of the event stream emitted so far" to a timestamp through the inverse of the cumulative
 * traffic rate. Placing sessions this way makes the event density follow the rate (diurnal cycle plus the
 * festival spike) and keeps session starts in time order without holding any per-event state.
 */
export interface Timeline {
  timeAt(fraction: number): number;
}

export function buildTimeline(opts: ResolvedGeneratorOptions): Timeline {
  const { startMs, endMs } = opts;
  const numBuckets = Math.max(1, Math.ceil((endMs - startMs) / HOUR_MS));
  // Buckets are whole hours counted back from the end, so the spike covers exactly the last festivalHours.
  const boundary = new Float64Array(numBuckets + 1);
  for (let b = 0; b <= numBuckets; b++) boundary[b] = Math.max(startMs, endMs - (numBuckets - b) * HOUR_MS);
  const cumulative = new Float64Array(numBuckets + 1);
  const weight = new Float64Array(numBuckets);
  const spikeFrom = opts.festivalSpike ? numBuckets - opts.festivalHours : numBuckets;
  for (let b = 0; b < numBuckets; b++) {
    const from = boundary[b]!;
    const to = boundary[b + 1]!;
    const msOfDay = ((((from + to) / 2) % DAY_MS) + DAY_MS) % DAY_MS;
    const hourOfDay = Math.floor(msOfDay / HOUR_MS);
    const rate = b >= spikeFrom ? opts.festivalMultiplier * MEAN_DIURNAL_RATE : DIURNAL_RATE[hourOfDay]!;
    weight[b] = (rate * (to - from)) / HOUR_MS;
    cumulative[b + 1] = cumulative[b]! + weight[b]!;
  }
  const total = cumulative[numBuckets]!;

  return {
    timeAt(fraction: number): number {
      const target = fraction * total;
      // Largest bucket whose cumulative start is <= target.
      let lo = 0;
      let hi = numBuckets - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (cumulative[mid]! <= target) lo = mid;
        else hi = mid - 1;
      }
      const from = boundary[lo]!;
      const within = (target - cumulative[lo]!) / weight[lo]!;
      return from + Math.min(1, within) * (boundary[lo + 1]! - from);
    },
  };
}
