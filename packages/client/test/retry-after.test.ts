import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ElevensClient, ElevensError, parseRetryAfter } from '../src';

/** A fixed clock, off a whole second: an HTTP-date has whole seconds, the clock need not. */
const NOW = Date.UTC(2026, 10, 11, 0, 0, 0) + 250;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const SECOND = 1_000;
const YEAR_MS = 365.25 * 24 * 3_600 * SECOND;

/** delay-seconds by the grammar, worked out digit by digit: 1*DIGIT, in exact milliseconds up to the safe bound. */
function referenceDelayMs(text: string): number | undefined {
  const value = text.replace(/^[ \t]+|[ \t]+$/g, '');
  if (value === '') return undefined;
  let seconds = 0n;
  for (const char of value) {
    const digit = '0123456789'.indexOf(char);
    if (digit < 0) return undefined;
    seconds = seconds * 10n + BigInt(digit);
  }
  const ms = seconds * 1000n;
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ms);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const timeOf = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;

/** The three HTTP-date formats of RFC 9110 §5.6.7, written out from the date's fields. */
const httpDates = (ms: number) => {
  const d = new Date(ms);
  const day = DAYS[d.getUTCDay()]!;
  const month = MONTHS[d.getUTCMonth()]!;
  return {
    imfFixdate: d.toUTCString(),
    rfc850: `${day}, ${pad(d.getUTCDate())}-${month}-${pad(d.getUTCFullYear() % 100)} ${timeOf(d)} GMT`,
    asctime: `${day.slice(0, 3)} ${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${timeOf(d)} ${pad(d.getUTCFullYear(), 4)}`,
  };
};

/** Whole seconds from year 1000 to 9999: IMF-fixdate and asctime dates have four-digit years. */
const fourDigitYearSeconds = fc.integer({
  min: Date.UTC(1000, 0, 1) / SECOND,
  max: Date.UTC(9999, 11, 31, 23, 59, 59) / SECOND,
});

describe('parseRetryAfter, against the grammar of RFC 9110', () => {
  it('reads delay-seconds (any digits, leading zeros, surrounding spaces or tabs) exactly as the reference', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 40 });
    const ows = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });
    fc.assert(
      fc.property(ows, digits, ows, (before, value, after) => {
        const text = `${before}${value}${after}`;
        expect(parseRetryAfter(text, NOW)).toBe(referenceDelayMs(text));
      }),
      { numRuns: 2_000 },
    );
  });

  it('reads anything else made of number-like characters as no Retry-After, as the reference', () => {
    const numberLike = fc.string({
      unit: fc.constantFrom(...'0123456789-+.,eExbo_ \t', 'Infinity'),
      maxLength: 12,
    });
    fc.assert(
      fc.property(numberLike, (text) => {
        expect(parseRetryAfter(text, NOW)).toBe(referenceDelayMs(text));
      }),
      { numRuns: 5_000 },
    );
  });

  it('reads an IMF-fixdate and an asctime date as the time from now to it, 0 once past', () => {
    fc.assert(
      fc.property(fourDigitYearSeconds, (seconds) => {
        const { imfFixdate, asctime } = httpDates(seconds * SECOND);
        const expected = Math.max(0, seconds * SECOND - NOW);
        expect(parseRetryAfter(imfFixdate, NOW)).toBe(expected);
        expect(parseRetryAfter(asctime, NOW)).toBe(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it('reads an RFC 850 date (two-digit year) within 49 years of now as the time from now to it', () => {
    const nearNow = fc.integer({
      min: Math.ceil((NOW - 49 * YEAR_MS) / SECOND),
      max: Math.floor((NOW + 49 * YEAR_MS) / SECOND),
    });
    fc.assert(
      fc.property(nearNow, (seconds) => {
        expect(parseRetryAfter(httpDates(seconds * SECOND).rfc850, NOW)).toBe(
          Math.max(0, seconds * SECOND - NOW),
        );
      }),
      { numRuns: 2_000 },
    );
  });

  it('reads near dates, and reads an RFC 850 year more than 50 years ahead as the century before', () => {
    expect(parseRetryAfter('Wed, 11 Nov 2026 00:00:30 GMT', NOW)).toBe(29_750);
    expect(parseRetryAfter('Wed Nov 11 00:00:30 2026', NOW)).toBe(29_750);
    expect(parseRetryAfter('Wednesday, 11-Nov-26 00:00:30 GMT', NOW)).toBe(29_750);
    // 1994, not 2094: long past.
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(0);
    // Fifty years ahead to the day still reads as 2076; a day later it is 1976, past.
    expect(parseRetryAfter('Wednesday, 11-Nov-76 00:00:00 GMT', NOW)).toBeGreaterThan(49 * YEAR_MS);
    expect(parseRetryAfter('Thursday, 12-Nov-76 00:00:00 GMT', NOW)).toBe(0);
    // A leap second is a time of day; the day name is not checked against the date.
    expect(parseRetryAfter('Wed, 11 Nov 2026 00:00:60 GMT', NOW)).toBe(59_750);
    expect(parseRetryAfter('Mon, 11 Nov 2026 00:00:30 GMT', NOW)).toBe(29_750);
  });

  it.each([
    ['', 'empty'],
    ['   ', 'blank'],
    ['0x10', 'hex (Number() reads 16 s)'],
    ['1e3', 'an exponent (Number() reads 1000 s)'],
    ['-5', 'negative'],
    ['+5', 'signed'],
    ['1.5', 'a fraction'],
    ['Infinity', 'Infinity'],
    ['5, 10', 'two values joined'],
    ['1-2', 'a date by no HTTP format (Date.parse reads 2 Jan 2001)'],
    ['2026-11-11T00:00:30Z', 'an ISO date'],
    ['Wed, 11 Nov 2026 00:00:30 UTC', 'a zone other than GMT'],
    ['wed, 11 nov 2026 00:00:30 gmt', 'lower case'],
    ['Wed, 11 Nov 2026 00:00:30', 'no zone (Date.parse reads local time)'],
    ['Wed, 11 Nov 2026 0:00:30 GMT', 'a one-digit hour'],
    ['Tue, 31 Feb 2026 00:00:00 GMT', 'no such day (Date.parse reads 3 March)'],
    ['Wed, 11 Nov 2026 24:00:00 GMT', 'no such hour'],
    ['Wed, 11 Nov 2026 23:60:00 GMT', 'no such minute'],
    ['Wed Nov 11 00:00:30 2026 GMT', 'an asctime date with a zone'],
  ])('reads %j (%s) as no Retry-After', (text) => {
    expect(parseRetryAfter(text, NOW)).toBeUndefined();
  });

  it('reads delay-seconds past what a number holds exactly as the largest safe number of milliseconds', () => {
    expect(parseRetryAfter('99999999999', NOW)).toBe(99_999_999_999_000);
    expect(parseRetryAfter('9'.repeat(400), NOW)).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
  });
});

/** A service answering `status` with this Retry-After `attempts` times, then answering. */
function busyFor(attempts: number, status: number, retryAfter: string) {
  let requests = 0;
  const fetchStandIn: typeof fetch = async (_, init) => {
    requests++;
    if (requests <= attempts)
      return Response.json(
        { error: 'unavailable', message: 'busy' },
        { status, headers: { 'retry-after': retryAfter } },
      );
    if (init?.method === 'POST') {
      const { events } = JSON.parse(String(init.body)) as { events: unknown[] };
      return Response.json({ accepted: events.length, duplicates: 0, rejected: [] });
    }
    return Response.json({ userId: 'u1', items: [] });
  };
  return { fetch: fetchStandIn, requests: () => requests };
}

describe('the client, given a Retry-After that is no delay-seconds nor HTTP-date', () => {
  it.each(['', '0x10', '1e3', '-5', '1.5'])(
    'reports %j as no Retry-After, rather than a wait the service never asked for',
    async (retryAfter) => {
      const client = new ElevensClient({
        apiUrl: 'http://api.test',
        retry: { retries: 0 },
        fetch: busyFor(1, 503, retryAfter).fetch,
      });
      const error = await client.recommendations({ userId: 'u1' }).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(ElevensError);
      expect(error).toMatchObject({ status: 503, retryAfterMs: undefined });
    },
  );

  it('retries with its own back-off after a Retry-After of "1e3", instead of rejecting at once as if asked for 1000 s', async () => {
    const service = busyFor(2, 503, '1e3');
    const client = new ElevensClient({
      apiUrl: 'http://api.test',
      retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 20 },
      fetch: service.fetch,
    });
    await expect(client.recommendations({ userId: 'u1' })).resolves.toMatchObject({ userId: 'u1' });
    expect(service.requests()).toBe(3);
  });
});

describe('the client, given a Retry-After longer than a timer waits', () => {
  it('rejects a call at once, naming the wait asked for', async () => {
    const service = busyFor(1, 429, '99999999999');
    const client = new ElevensClient({ apiUrl: 'http://api.test', fetch: service.fetch });
    await expect(client.recommendations({ userId: 'u1' })).rejects.toMatchObject({
      status: 429,
      retryAfterMs: 99_999_999_999_000,
    });
    expect(service.requests()).toBe(1);
  });

  it('holds a failed background flush for the longest timer, rather than a timer that fires at once', async () => {
    const service = busyFor(Number.POSITIVE_INFINITY, 503, '99999999999');
    const failures: ElevensError[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 1, flushIntervalMs: 1 },
      fetch: service.fetch,
      onError: (error) => failures.push(error),
    });
    client.track({ userId: 'u1', itemId: 'i1', type: 'view' });
    await expect.poll(() => failures.length).toBe(1);
    // A timer of over 2³¹−1 ms fires after 1 ms: each retry would be answered the same, as fast as it can be sent.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(service.requests()).toBe(1);
    expect(client.pendingEvents).toBe(1);
  });
});
