import {
  eventTimeProblem,
  IngestEventsBody,
  MAX_EVENTS_PER_BATCH,
  normaliseEvent,
  normaliseEventBySchema,
} from '@elevens/domain';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestEventsBodyFast } from '../src/routes/events';

const RECEIVED_AT = Date.UTC(2026, 10, 11, 12);
const DAY = 86_400_000;

const edgeValue = fc.oneof(
  fc.string({ maxLength: 140 }),
  fc.constantFrom(
    '',
    'x'.repeat(128),
    'x'.repeat(129),
    '\u0000',
    '\ud800',
    '~anon:u',
    'view',
    'purchase',
    '2026-11-11T00:00:01Z',
    '2026-11-11T00:00:01',
    '2026-13-40T00:00:01Z',
    '2099-01-01T00:00:00+02:00',
    '1900-01-01T00:00:00Z',
    '1969-12-31T23:59:59.999Z',
    '1970-01-01T00:00:00Z',
    '1970-01-01T00:30:00+01:00',
    '2026-02-30T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2024-02-29T00:00:00Z',
    '2026-11-12T12:00:00Z',
    '2026-11-12T12:00:00.001Z',
    'yesterday',
  ),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1, 1.5, 1e6, 1e6 + 1, 8.64e15, 8.64e15 + 1, 2 ** 53 + 2, 999_999_999_999.99, 1e12),
  fc.constantFrom(RECEIVED_AT + DAY, RECEIVED_AT + DAY + 1, null),
  fc.jsonValue({ maxDepth: 2 }),
  fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })),
);

const FIELDS = [
  'eventId',
  'userId',
  'itemId',
  'type',
  'timestamp',
  'sessionId',
  'recommendationId',
  'quantity',
  'price',
  'properties',
] as const;

/** Mostly valid events with up to three fields replaced by edge values or removed. */
const candidate = fc
  .tuple(
    fc.record(
      {
        eventId: fc.string({ minLength: 1, maxLength: 10 }),
        userId: fc.string({ minLength: 1, maxLength: 10 }),
        itemId: fc.string({ minLength: 1, maxLength: 10 }),
        type: fc.constantFrom('view', 'cart', 'purchase', 'click'),
        timestamp: fc.oneof(
          fc.integer({ min: 0, max: RECEIVED_AT }),
          fc.constant('2026-11-11T00:00:01.5+02:00'),
          // 1900 to two days ahead: both sides of both bounds
          fc
            .date({
              min: new Date('1900-01-01T00:00:00Z'),
              max: new Date(RECEIVED_AT + 2 * DAY),
              noInvalidDate: true,
            })
            .map((date) => date.toISOString()),
          fc.integer({ min: -DAY, max: RECEIVED_AT + 2 * DAY }),
        ),
        quantity: fc.integer({ min: 1, max: 5 }),
        properties: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
      },
      { requiredKeys: ['userId', 'itemId', 'type'] },
    ),
    fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.option(edgeValue, { nil: undefined })), {
      maxLength: 3,
    }),
  )
  .map(([valid, changes]) => {
    const event: Record<string, unknown> = { ...valid };
    for (const [field, value] of changes) {
      if (value === undefined) delete event[field];
      else event[field] = value;
    }
    return event;
  });

describe('event validation', () => {
  it('accepts, rejects and normalises exactly as the EventInput schema does', () => {
    fc.assert(
      fc.property(candidate, (raw) => {
        const result = normaliseEvent(raw, RECEIVED_AT, () => 'assigned');
        const expected = normaliseEventBySchema(raw, RECEIVED_AT, () => 'assigned');
        expect(result.ok).toBe(expected.ok);
        if (result.ok && expected.ok) expect(result.event).toEqual(expected.event);
      }),
      { numRuns: 20_000 },
    );
  });

  it('stores properties with an own __proto__ key as the schema copies them (without it)', () => {
    const raw = JSON.parse(
      '{"userId":"u","itemId":"i","type":"view","properties":{"__proto__":false,"a":1}}',
    );
    const result = normaliseEvent(raw, RECEIVED_AT, () => 'assigned');
    expect(result).toEqual(normaliseEventBySchema(raw, RECEIVED_AT, () => 'assigned'));
    expect(result.ok && result.event.properties).toEqual({ a: 1 });
  });
});

/** Request bodies: objects with and without `events` (of every kind and length around the bounds), and others. */
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 1 })),
  fc.record({ events: fc.jsonValue({ maxDepth: 1 }) }),
  fc
    .constantFrom(0, 1, 2, MAX_EVENTS_PER_BATCH, MAX_EVENTS_PER_BATCH + 1)
    .map((length) => ({ events: Array.from({ length }, () => ({ userId: 'u' })) })),
);

describe('request body envelope', () => {
  it('passes by the hand check only bodies the IngestEventsBody schema passes, unchanged', () => {
    fc.assert(
      fc.property(body, (raw) => {
        const fast = ingestEventsBodyFast(raw);
        if (fast === null) return;
        const bySchema = IngestEventsBody.safeParse(raw);
        expect(bySchema.success).toBe(true);
        expect(fast).toEqual(bySchema.data);
      }),
      { numRuns: 5_000 },
    );
  });

  it('passes single events and batches of 1–1000 by the hand check', () => {
    expect(ingestEventsBodyFast({ userId: 'u', itemId: 'i', type: 'view' })).not.toBeNull();
    for (const length of [1, MAX_EVENTS_PER_BATCH])
      expect(ingestEventsBodyFast({ events: Array.from({ length }, () => ({})) })).not.toBeNull();
    for (const refused of [[], null, 'x', { events: [] }, { events: {} }, JSON.parse('{"__proto__":0}')])
      expect(ingestEventsBodyFast(refused)).toBeNull();
  });
});

const withTimestamp = (timestamp: unknown) => ({ userId: 'u', itemId: 'i', type: 'view', timestamp });

describe('event timestamps', () => {
  it.each([
    ['a 1900 date', '1900-01-01T00:00:00Z', 'before 1970-01-01'],
    ['an offset that puts it in 1969', '1970-01-01T00:30:00+01:00', 'before 1970-01-01'],
    ['a negative epoch', -1, 'before 1970-01-01'],
    ['an ISO time a day and 1 ms ahead', '2026-11-12T12:00:00.001Z', 'more than a day in the future'],
    ['an epoch a day and 1 ms ahead', RECEIVED_AT + DAY + 1, 'more than a day in the future'],
    ['an epoch beyond any date', 8.64e15 + 1, 'more than a day in the future'],
    ['February 30th', '2026-02-30T00:00:00Z', 'not a real instant'],
    ['month 13', '2026-13-01T00:00:00Z', 'not a real instant'],
    ['a local time', '2026-11-11T10:00:00', 'not a real instant'],
    ['a date alone', '2026-11-11', 'not a real instant'],
    ['words', 'yesterday', 'not a real instant'],
    ['a fractional epoch', 1.5, 'not a real instant'],
    ['null', null, 'not a real instant'],
  ])('rejects %s on the fast and the schema path alike, naming the field', (_, timestamp, reason) => {
    for (const normalise of [normaliseEvent, normaliseEventBySchema]) {
      const result = normalise(withTimestamp(timestamp), RECEIVED_AT, () => 'assigned');
      expect(result).toEqual({
        ok: false,
        error: expect.stringMatching(new RegExp(`^timestamp: ${reason}`)),
      });
    }
  });

  it.each([
    ['the epoch', 0],
    ['1970 in ISO', '1970-01-01T00:00:00Z'],
    ['a 1997 MovieLens rating', 874_965_758_000],
    ['a leap day', '2024-02-29T00:00:00Z'],
    ['exactly a day ahead', RECEIVED_AT + DAY],
  ])('accepts %s on the fast path', (_, timestamp) => {
    const result = normaliseEvent(withTimestamp(timestamp), RECEIVED_AT, () => 'assigned');
    expect(result.ok).toBe(true);
  });

  it('measures the future bound from the clock given, not the time of day', () => {
    const inTwoDays = RECEIVED_AT + 2 * DAY;
    expect(eventTimeProblem(inTwoDays, RECEIVED_AT)).toBe('more than a day in the future');
    expect(eventTimeProblem(inTwoDays, RECEIVED_AT + DAY)).toBeNull();
    expect(eventTimeProblem(Number.NaN, RECEIVED_AT)).toMatch(/^not a real instant/);
  });
});
