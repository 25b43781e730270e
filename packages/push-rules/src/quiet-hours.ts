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

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Names already checked (valid or not); bounded, since names come from user profiles. */
const knownZones = new Map<string, boolean>();
const KNOWN_ZONES_LIMIT = 10_000;

/** `zone` when it is an IANA time zone this runtime knows, else `fallback` (also for ''). Remembered per name. */
export function resolveTimeZone(zone: string, fallback: string): string {
  if (zone === '') return fallback;
  let valid = knownZones.get(zone);
  if (valid === undefined) {
    try {
      formatterFor(zone);
      valid = true;
    } catch {
      valid = false;
    }
    if (knownZones.size >= KNOWN_ZONES_LIMIT) knownZones.clear();
    knownZones.set(zone, valid);
  }
  return valid ? zone : fallback;
}

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

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
function minuteOffsetMs(minute: number, timeZone: string): number {
  let zone = minuteOffsets.get(timeZone);
  const known = zone?.get(minute);
  if (known !== undefined) return known;
  const offsetMs = formattedOffsetMs(minute * MINUTE_MS, timeZone);
  if (minuteOffsetEntries >= MINUTE_OFFSETS_LIMIT) {
    minuteOffsets.clear();
    minuteOffsetEntries = 0;
    zone = undefined;
  }
  if (zone === undefined) {
    zone = new Map();
    minuteOffsets.set(timeZone, zone);
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
  const minute = Math.floor(instantMs / MINUTE_MS);
  const last = lastOffsets.get(timeZone);
  if (last?.minute === minute) return last.offsetMs;
  const offsetMs = minuteOffsetMs(minute, timeZone);
  lastOffsets.set(timeZone, { minute, offsetMs });
  return offsetMs;
}

function formattedOffsetMs(instantMs: number, timeZone: string): number {
  const parts = formatterFor(timeZone).formatToParts(instantMs);
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
function firstMinuteWithOtherOffset(
  fromMinute: number,
  toMinute: number,
  offsetMs: number,
  timeZone: string,
) {
  let lo = fromMinute;
  let hi = toMinute;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (minuteOffsetMs(mid, timeZone) === offsetMs) lo = mid;
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
  let at = instantMs;
  // Each step either lands on the local end of quiet hours or on an offset change; a day has at most two.
  for (let step = 0; step < 16; step++) {
    const atMinute = Math.floor(at / MINUTE_MS);
    const offset = minuteOffsetMs(atMinute, timeZone);
    const minute = minuteOfLocalDay(at, offset);
    if (!minuteIsQuiet(quiet, minute)) return at;
    const minutesToEnd = (quiet.endMinute - minute + DAY_MINUTES) % DAY_MINUTES;
    const endMinute = atMinute + minutesToEnd;
    at =
      minuteOffsetMs(endMinute, timeZone) === offset
        ? endMinute * MINUTE_MS
        : firstMinuteWithOtherOffset(atMinute, endMinute, offset, timeZone) * MINUTE_MS;
  }
  throw new Error(`quiet hours in ${timeZone} did not end within 16 steps`);
}
