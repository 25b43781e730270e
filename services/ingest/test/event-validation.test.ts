import { normaliseEvent, normaliseEventBySchema } from '@elevens/domain';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

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
});
