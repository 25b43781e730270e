export interface GeneratorOptions {
  users: number;
  items: number;
  events: number;
  seed: number;
  /** Number of categories; default max(5, round(items / 200)), never more than items. */
  categories?: number;
  /** Exponent of the Zipf item popularity inside each category; default 1.1. */
  zipfExponent?: number;
  /**
   * Start of the time window (epoch ms, 1970 or later: ingest refuses older events). Default: the window ends
   * `festivalHours` after yesterday's UTC midnight, so the festival spike starts at midnight and the stream is
   * stable for a whole UTC day.
   */
  startMs?: number;
  /** Length of the time window in days; default 14. */
  days?: number;
  /** Whether the last `festivalHours` of the window carry an 11.11-style traffic spike; default true. */
  festivalSpike?: boolean;
  /** Length of the spike in whole hours; default 3. */
  festivalHours?: number;
  /** Spike rate relative to the average base rate; default 10. */
  festivalMultiplier?: number;
}

export type CatalogOptions = Pick<GeneratorOptions, 'items' | 'seed' | 'categories'>;

export interface ResolvedGeneratorOptions {
  users: number;
  items: number;
  events: number;
  seed: number;
  categories: number;
  zipfExponent: number;
  startMs: number;
  endMs: number;
  days: number;
  festivalSpike: boolean;
  festivalHours: number;
  festivalMultiplier: number;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

function requireInteger(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

function requirePositive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

export function resolveCategoryCount(opts: CatalogOptions): number {
  const items = requireInteger('items', opts.items, 1);
  const requested =
    opts.categories === undefined
      ? Math.max(5, Math.round(items / 200))
      : requireInteger('categories', opts.categories, 1);
  return Math.min(requested, items);
}

export function resolveGeneratorOptions(
  opts: GeneratorOptions,
  nowMs: number = Date.now(),
): ResolvedGeneratorOptions {
  const users = requireInteger('users', opts.users, 1);
  const items = requireInteger('items', opts.items, 1);
  const events = requireInteger('events', opts.events, 0);
  if (!Number.isFinite(opts.seed)) throw new RangeError(`seed must be a finite number, got ${opts.seed}`);
  const zipfExponent = opts.zipfExponent ?? 1.1;
  if (!Number.isFinite(zipfExponent) || zipfExponent < 0) {
    throw new RangeError(`zipfExponent must be finite and >= 0, got ${zipfExponent}`);
  }
  const days = requirePositive('days', opts.days ?? 14);
  const festivalSpike = opts.festivalSpike ?? true;
  const festivalHours = requireInteger('festivalHours', opts.festivalHours ?? 3, 0);
  const festivalMultiplier = requirePositive('festivalMultiplier', opts.festivalMultiplier ?? 10);
  const windowMs = Math.round(days * DAY_MS);
  let startMs: number;
  if (opts.startMs === undefined) {
    const todayMidnight = Math.floor(nowMs / DAY_MS) * DAY_MS;
    startMs = todayMidnight - DAY_MS + festivalHours * HOUR_MS - windowMs;
  } else {
    if (!Number.isFinite(opts.startMs)) throw new RangeError(`startMs must be finite, got ${opts.startMs}`);
    startMs = Math.floor(opts.startMs);
  }
  if (startMs < 0) {
    throw new RangeError(
      `the time window starts before 1970 (startMs ${startMs}): ingest refuses such events`,
    );
  }
  return {
    users,
    items,
    events,
    seed: opts.seed,
    categories: resolveCategoryCount({ items, seed: opts.seed, categories: opts.categories }),
    zipfExponent,
    startMs,
    endMs: startMs + windowMs,
    days,
    festivalSpike,
    festivalHours,
    festivalMultiplier,
  };
}

/** `prefix` + zero-padded number, e.g. formatId('i', 123, 6) = 'i000123'. */
export function formatId(prefix: string, n: number, width: number): string {
  return prefix + String(n).padStart(width, '0');
}

export const itemIdOf = (itemIndex: number): string => formatId('i', itemIndex, 6);
export const userIdOf = (userIndex: number): string => formatId('u', userIndex, 6);
export const categoryIdOf = (categoryIndex: number): string => formatId('c', categoryIndex, 3);

/** Sub-stream numbers for deriveSeed: each concern draws from its own stream. */
export const STREAM_LAYOUT = 1;
export const STREAM_CATALOG_TEXT = 2;
export const STREAM_USERS = 3;
export const STREAM_EVENTS = 4;
