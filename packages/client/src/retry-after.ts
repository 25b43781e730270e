const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const DAY_NAME = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun';
const DAY_NAME_LONG = 'Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

/** `Sun, 06 Nov 1994 08:49:37 GMT`: day, month, year, hour, minute, second. */
const IMF_FIXDATE = new RegExp(`^(?:${DAY_NAME}), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete): day, month, two-digit year, hour, minute, second. */
const RFC850_DATE = new RegExp(`^(?:${DAY_NAME_LONG}), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` (obsolete, ANSI C's asctime): month, day, hour, minute, second, year. */
const ASCTIME_DATE = new RegExp(`^(?:${DAY_NAME}) (${MONTH}) (\\d{2}| \\d) ${TIME} (\\d{4})$`);

/** Optional whitespace around a field value (SP, HTAB), which a fetch Headers object has already removed. */
const OWS = /^[ \t]+|[ \t]+$/g;

interface DateFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The instant, or NaN for a date no calendar has (31 Feb) or a time past 23:59:60 (a leap second is allowed). */
function instantOf({ year, month, day, hour, minute, second }: DateFields): number {
  if (hour > 23 || minute > 59 || second > 60) return Number.NaN;
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0–99 as 1900–1999.
  const midnight = new Date(0);
  midnight.setUTCFullYear(year, month, day);
  if (midnight.getUTCMonth() !== month || midnight.getUTCDate() !== day) return Number.NaN;
  return midnight.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
}

const fieldsOf = (day: string, month: string, year: number, time: string[]): DateFields => ({
  year,
  month: MONTHS.indexOf(month),
  day: Number(day),
  hour: Number(time[0]),
  minute: Number(time[1]),
  second: Number(time[2]),
});

/**
 * An RFC 850 date's year: the one ending in those two digits at most 50 years ahead of `nowMs`, else the century
 * before (RFC 9110 §5.6.7).
 */
function rfc850Instant(
  day: string,
  month: string,
  twoDigitYear: number,
  time: string[],
  nowMs: number,
): number {
  const now = new Date(nowMs);
  const latestYear = now.getUTCFullYear() + 50;
  const year = latestYear - ((((latestYear - twoDigitYear) % 100) + 100) % 100);
  const instant = instantOf(fieldsOf(day, month, year, time));
  const fiftyYearsAhead = new Date(nowMs);
  fiftyYearsAhead.setUTCFullYear(latestYear);
  return instant > fiftyYearsAhead.getTime() ? instantOf(fieldsOf(day, month, year - 100, time)) : instant;
}

/** An HTTP-date in any of its three formats (RFC 9110 §5.6.7), or NaN. The day name is not checked against the date. */
function httpDateInstant(text: string, nowMs: number): number {
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day, month, year, ...time] = match;
    return instantOf(fieldsOf(day!, month!, Number(year), time));
  }
  match = RFC850_DATE.exec(text);
  if (match) {
    const [, day, month, year, ...time] = match;
    return rfc850Instant(day!, month!, Number(year), time, nowMs);
  }
  match = ASCTIME_DATE.exec(text);
  if (match) {
    const [, month, day, hour, minute, second, year] = match;
    return instantOf(fieldsOf(day!.trim(), month!, Number(year), [hour!, minute!, second!]));
  }
  return Number.NaN;
}

/**
 * A Retry-After field value (RFC 9110 §10.2.3) as the milliseconds to wait from `nowMs`: delay-seconds (digits
 * only), or an HTTP-date (a date already past waits 0). Anything else is undefined, for the caller's default:
 * empty, a sign, a fraction, hex or an exponent (which `Number()` reads), two values joined by a comma, a date in
 * no HTTP format. Delay-seconds are not bounded but by what a number holds exactly (Number.MAX_SAFE_INTEGER ms,
 * some 285,000 years): the caller bounds the wait.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.replace(OWS, '');
  if (/^\d+$/.test(text)) return Math.min(Number.MAX_SAFE_INTEGER, Number(text) * 1000);
  const instant = httpDateInstant(text, nowMs);
  return Number.isNaN(instant) ? undefined : Math.max(0, instant - nowMs);
}
