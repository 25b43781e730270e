import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  formatClock,
  isQuietAt,
  localMinuteOfDay,
  parseClock,
  type QuietHours,
  quietUntil,
  resolveTimeZone,
  retryAt,
  utcOffsetMs,
} from '../src/index';

const at = (iso: string) => Date.parse(iso);
const night: QuietHours = {
  startMinute: parseClock('22:00'),
  endMinute: parseClock('08:00'),
  channels: ['push'],
};
const HOUR = 3_600_000;

/** First instant ≥ t outside quiet hours, minute by minute (offsets are whole minutes). */
function bruteQuietUntil(quiet: QuietHours, zone: string, t: number): number {
  if (!isQuietAt(quiet, zone, t)) return t;
  for (let minute = Math.floor(t / 60_000) + 1; ; minute++) {
    if (!isQuietAt(quiet, zone, minute * 60_000)) return minute * 60_000;
  }
}

describe('clock and offsets', () => {
  it('parses HH:MM and refuses anything else', () => {
    expect(parseClock('00:00')).toBe(0);
    expect(parseClock('22:30')).toBe(1350);
    expect(formatClock(1350)).toBe('22:30');
    for (const bad of ['24:00', '7:00', '07:60', '0700', '']) expect(() => parseClock(bad)).toThrow();
  });

  it('follows DST: New York is UTC−5 in winter and UTC−4 in summer; Kolkata has no DST', () => {
    expect(utcOffsetMs(at('2026-01-15T12:00:00Z'), 'America/New_York')).toBe(-5 * HOUR);
    expect(utcOffsetMs(at('2026-07-15T12:00:00Z'), 'America/New_York')).toBe(-4 * HOUR);
    expect(utcOffsetMs(at('2026-07-15T12:00:00Z'), 'Asia/Kolkata')).toBe(5.5 * HOUR);
    expect(localMinuteOfDay(at('2026-07-15T12:00:00Z'), 'Pacific/Chatham')).toBe(parseClock('00:45'));
  });
});

describe('time zone names', () => {
  it('formats each zone’s offsets once however many spellings of it profiles hold', () => {
    const formatToParts = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts');
    try {
      const instant = at('2031-01-15T05:05:30Z');
      const spellings = [
        'America/New_York',
        'US/Eastern',
        'us/eastern',
        'US/EASTERN',
        'uS/eAsTeRn',
        'EST5EDT',
      ];
      for (const zone of spellings) {
        expect(utcOffsetMs(instant, zone)).toBe(-5 * HOUR);
        expect(quietUntil(night, zone, instant)).toBe(at('2031-01-15T13:00:00Z'));
      }
      // The instant's minute, then the end of quiet hours: one formatting each, for all six names.
      expect(formatToParts).toHaveBeenCalledTimes(2);
    } finally {
      formatToParts.mockRestore();
    }
  });

  it('keeps a name the runtime takes as it is and gives the fallback for any other', () => {
    for (const zone of ['America/New_York', 'us/eastern', 'Asia/Kolkata', 'IST', '+05:30'])
      expect(resolveTimeZone(zone, 'UTC')).toBe(zone);
    for (const zone of ['', 'Mars/Base', 'Factory'])
      expect(resolveTimeZone(zone, 'Europe/Berlin')).toBe('Europe/Berlin');
    expect(() => utcOffsetMs(0, 'Mars/Base')).toThrow(RangeError);
  });
});

describe('quiet hours in the user’s time zone', () => {
  it('one instant is night in New York and Berlin and day in Tokyo', () => {
    const instant = at('2026-11-11T04:00:00Z');
    expect(isQuietAt(night, 'America/New_York', instant)).toBe(true); // 23:00
    expect(isQuietAt(night, 'Europe/Berlin', instant)).toBe(true); // 05:00
    expect(isQuietAt(night, 'Asia/Tokyo', instant)).toBe(false); // 13:00
    expect(quietUntil(night, 'Europe/Berlin', instant)).toBe(at('2026-11-11T07:00:00Z'));
  });

  it('ends at 08:00 local before and after New York springs forward', () => {
    // 2026-03-08 02:00 EST becomes 03:00 EDT (07:00Z).
    expect(quietUntil(night, 'America/New_York', at('2026-03-07T06:30:00Z'))).toBe(
      at('2026-03-07T13:00:00Z'),
    );
    expect(quietUntil(night, 'America/New_York', at('2026-03-08T06:30:00Z'))).toBe(
      at('2026-03-08T12:00:00Z'),
    );
  });

  it('ends at the jump when its local end time is skipped', () => {
    const untilTwoThirty: QuietHours = { ...night, endMinute: parseClock('02:30') };
    expect(quietUntil(untilTwoThirty, 'America/New_York', at('2026-03-08T06:59:00Z'))).toBe(
      at('2026-03-08T07:00:00Z'),
    );
  });

  it('is quiet twice in the repeated hour when New York falls back', () => {
    // 2026-11-01 02:00 EDT becomes 01:00 EST (06:00Z); 01:00–01:30 happens at 05:00Z and again at 06:00Z.
    const short: QuietHours = {
      startMinute: parseClock('01:00'),
      endMinute: parseClock('01:30'),
      channels: ['any'],
    };
    expect(quietUntil(short, 'America/New_York', at('2026-11-01T05:10:00Z'))).toBe(
      at('2026-11-01T05:30:00Z'),
    );
    expect(isQuietAt(short, 'America/New_York', at('2026-11-01T05:45:00Z'))).toBe(false);
    expect(quietUntil(short, 'America/New_York', at('2026-11-01T06:10:00Z'))).toBe(
      at('2026-11-01T06:30:00Z'),
    );
    expect(quietUntil(night, 'America/New_York', at('2026-11-01T05:10:00Z'))).toBe(
      at('2026-11-01T13:00:00Z'),
    );
  });

  it('agrees with a minute-by-minute scan across zones and DST changes', () => {
    const zones = [
      'UTC',
      'America/New_York',
      'Europe/Berlin',
      'Australia/Lord_Howe',
      'Asia/Kolkata',
      'America/Sao_Paulo',
      'Pacific/Chatham',
    ];
    const transitions = [
      '2026-03-08T07:00:00Z',
      '2026-11-01T06:00:00Z',
      '2026-03-29T01:00:00Z',
      '2026-10-25T01:00:00Z',
      '2026-04-05T01:00:00Z',
      '2026-10-03T15:30:00Z',
    ].map(at);
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.constantFrom(...transitions),
        fc.integer({ min: -36 * 60, max: 36 * 60 }),
        fc.integer({ min: 0, max: 59_999 }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 0, max: 1439 }),
        (zone, base, minutes, ms, startMinute, endMinute) => {
          const quiet: QuietHours = { startMinute, endMinute, channels: ['any'] };
          const t = base + minutes * 60_000 + ms;
          expect(quietUntil(quiet, zone, t)).toBe(bruteQuietUntil(quiet, zone, t));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('retryAt', () => {
  it('is the first instant outside quiet hours once the caps have room and the duplicate period is over', () => {
    const zone = 'Europe/Berlin';
    const now = at('2026-11-11T12:00:00Z');
    expect(retryAt({ nowMs: now, capHolds: [], duplicateUntilMs: null, quiet: null, timeZone: zone })).toBe(
      now,
    );
    // Caps free at 23:30 Berlin time, inside quiet hours: the retry moves to 08:00 the next morning.
    expect(
      retryAt({
        nowMs: now,
        capHolds: [{ fromMs: now, untilMs: at('2026-11-11T22:30:00Z') }],
        duplicateUntilMs: null,
        quiet: night,
        timeZone: zone,
      }),
    ).toBe(at('2026-11-12T07:00:00Z'));
    // A campaign that is a duplicate until 23:30 Berlin time waits for the morning the same way, caps free or not.
    expect(
      retryAt({
        nowMs: now,
        capHolds: [{ fromMs: now, untilMs: at('2026-11-11T13:00:00Z') }],
        duplicateUntilMs: at('2026-11-11T22:30:00Z'),
        quiet: night,
        timeZone: zone,
      }),
    ).toBe(at('2026-11-12T07:00:00Z'));
    expect(
      retryAt({
        nowMs: now,
        capHolds: [{ fromMs: now, untilMs: Number.POSITIVE_INFINITY }],
        duplicateUntilMs: null,
        quiet: night,
        timeZone: zone,
      }),
    ).toBeNull();
  });
});
