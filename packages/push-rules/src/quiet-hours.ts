import type { Channel, RuleChannel } from './types';

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;
const DAY_MS = DAY_MINUTES * MINUTE_MS;

/** Hours in which no capped message is sent, as local clock minutes of the user's day. */
export interface QuietHours {
  /** Minute of the local day quiet hours begin (inclusive), 0–1439. */
  startMinute: number;
  /** Minute of the local day quiet hours end (exclusive); before startMinute when they span midnight. */
  endMinute: number;
  channels: readonly RuleChannel[];
}

/** Parses `HH:MM` (00:00–23:59) into a minute of the day; throws on anything else. */
export function parseClock(text: string): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (!match) throw new Error(`not a time of day: ${JSON.stringify(text)} (use HH:MM, 00:00–23:59)`);
  return Number(match[1]) * 60 + Number(match[2]);
}

export const formatClock = (minute: number): string =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

export const quietHoursApply = (quiet: QuietHours, channel: Channel): boolean =>
  quiet.channels.includes('any') || quiet.channels.includes(channel);

/** Equal start and end mean no quiet hours; a start after the end spans midnight. */
export function minuteIsQuiet(quiet: QuietHours, minuteOfDay: number): boolean {
  const { startMinute: start, endMinute: end } = quiet;
  if (start < end) return minuteOfDay >= start && minuteOfDay < end;
  if (start > end) return minuteOfDay >= start || minuteOfDay < end;
  return false;
}

/**
 * Each name's zone as the runtime identifies it (`us/eastern`, `US/EASTERN`, `EST5EDT` → `America/New_York`), or
 * null when the runtime does not know the name. Per name, so bounded: names come from user profiles.
 */
const zoneIds = new Map<string, string | null>();
const ZONE_IDS_LIMIT = 10_000;
/**
 * One formatter per zone id, as are the offset caches below: however many spellings profiles use, they hold at most
 * one entry per zone the runtime knows (a few hundred) or fixed offset (minutes within ±24 h).
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function zoneIdOf(name: string): string | null {
  const known = zoneIds.get(name);
  if (known !== undefined) return known;
  let zoneId: string | null;
  try {
    const formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    zoneId = formatter.resolvedOptions().timeZone;
    if (!formatters.has(zoneId)) formatters.set(zoneId, formatter);
  } catch {
    zoneId = null;
  }
  if (zoneIds.size >= ZONE_IDS_LIMIT) zoneIds.clear();
  zoneIds.set(name, zoneId);
  return zoneId;
}

/** The zone id of a name the runtime knows; a RangeError, as Intl's, for any other. */
function knownZoneId(timeZone: string): string {
  const zoneId = zoneIdOf(timeZone);
  if (zoneId === null) throw new RangeError(`Invalid time zone specified: ${timeZone}`);
  return zoneId;
}

/**
 * `zone` when this runtime's time zone data takes it, else `fallback` (also for ''). That is more than an IANA
 * name: profiles stored before the domain refused them may hold an abbreviation (`IST`), a SystemV zone or a fixed
 * offset (`+05:30`), which are read as the runtime reads them (`IST` as India) rather than dropped for the default.
 */
export const resolveTimeZone = (zone: string, fallback: string): string =>
  zone !== '' && zoneIdOf(zone) !== null ? zone : fallback;

/** Each zone's offset in the UTC minute last asked about: decisions ask about the same minute many times. */
const lastOffsets = new Map<string, { minute: number; offsetMs: number }>();
/**
 * Offsets of other whole UTC minutes, per zone: refusals ask when quiet hours end or caps free, which for many
 * users is the same few minutes ahead. Bounded, since those minutes move on.
 */
const minuteOffsets = new Map<string, Map<number, number>>();
let minuteOffsetEntries = 0;
const MINUTE_OFFSETS_LIMIT = 50_000;

/** The zone's offset in a whole UTC minute, formatted once per zone and minute. */
function minuteOffsetMs(minute: number, zoneId: string): number {
  let zone = minuteOffsets.get(zoneId);
  const known = zone?.get(minute);
  if (known !== undefined) return known;
  const offsetMs = formattedOffsetMs(minute * MINUTE_MS, zoneId);
  if (minuteOffsetEntries >= MINUTE_OFFSETS_LIMIT) {
    minuteOffsets.clear();
    minuteOffsetEntries = 0;
    zone = undefined;
  }
  if (zone === undefined) {
    zone = new Map();
    minuteOffsets.set(zoneId, zone);
  }
  zone.set(minute, offsetMs);
  minuteOffsetEntries++;
  return offsetMs;
}

/**
 * The zone's offset from UTC at an instant, in ms (wall clock − UTC), DST included. Offsets change only at
 * whole UTC minutes, so the answer for an instant's minute is remembered per zone (formatting costs ~15 µs).
 */
export function utcOffsetMs(instantMs: number, timeZone: string): number {
  const zoneId = knownZoneId(timeZone);
  const minute = Math.floor(instantMs / MINUTE_MS);
  const last = lastOffsets.get(zoneId);
  if (last?.minute === minute) return last.offsetMs;
  const offsetMs = minuteOffsetMs(minute, zoneId);
  lastOffsets.set(zoneId, { minute, offsetMs });
  return offsetMs;
}

function formattedOffsetMs(instantMs: number, zoneId: string): number {
  const parts = formatters.get(zoneId)!.formatToParts(instantMs);
  const field = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)!.value);
  const wall = Date.UTC(
    field('year'),
    field('month') - 1,
    field('day'),
    field('hour'),
    field('minute'),
    field('second'),
  );
  return wall - Math.floor(instantMs / 1000) * 1000;
}

const minuteOfLocalDay = (instantMs: number, offsetMs: number): number =>
  Math.floor(((((instantMs + offsetMs) % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);

export const localMinuteOfDay = (instantMs: number, timeZone: string): number =>
  minuteOfLocalDay(instantMs, utcOffsetMs(instantMs, timeZone));

export const isQuietAt = (quiet: QuietHours, timeZone: string, instantMs: number): boolean =>
  minuteIsQuiet(quiet, localMinuteOfDay(instantMs, timeZone));

/** The first whole UTC minute in (fromMinute, toMinute] whose offset differs from `offsetMs` (one exists). */
function firstMinuteWithOtherOffset(fromMinute: number, toMinute: number, offsetMs: number, zoneId: string) {
  let lo = fromMinute;
  let hi = toMinute;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (minuteOffsetMs(mid, zoneId) === offsetMs) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * The first instant at or after `instantMs` outside quiet hours in the zone: `instantMs` itself when it is not
 * quiet. Follows the local clock through DST changes (a skipped end time ends quiet hours at the jump; a repeated
 * hour is quiet twice when it is inside quiet hours). Zone offsets are whole minutes, so the answer is
 * `instantMs` or a whole UTC minute.
 */
export function quietUntil(quiet: QuietHours, timeZone: string, instantMs: number): number {
  const zoneId = knownZoneId(timeZone);
  let at = instantMs;
  // Each step either lands on the local end of quiet hours or on an offset change; a day has at most two.
  for (let step = 0; step < 16; step++) {
    const atMinute = Math.floor(at / MINUTE_MS);
    const offset = minuteOffsetMs(atMinute, zoneId);
    const minute = minuteOfLocalDay(at, offset);
    if (!minuteIsQuiet(quiet, minute)) return at;
    const minutesToEnd = (quiet.endMinute - minute + DAY_MINUTES) % DAY_MINUTES;
    const endMinute = atMinute + minutesToEnd;
    at =
      minuteOffsetMs(endMinute, zoneId) === offset
        ? endMinute * MINUTE_MS
        : firstMinuteWithOtherOffset(atMinute, endMinute, offset, zoneId) * MINUTE_MS;
  }
  throw new Error(`quiet hours in ${timeZone} did not end within 16 steps`);
}
