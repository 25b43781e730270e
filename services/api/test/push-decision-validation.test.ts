import { PushDecisionRequest, pushDecisionRequestFast } from '@elevens/domain';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const edgeValue = fc.oneof(
  fc.string({ maxLength: 140 }),
  fc.constantFrom('', 'x'.repeat(128), 'x'.repeat(129), '\u0000', 'push', 'any', 'low', 'urgent', 'true'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
);

const FIELDS = [
  'userId',
  'channel',
  'campaignId',
  'category',
  'priority',
  'transactional',
  'dryRun',
  'withItem',
  'overrideCaps',
  'unknownField',
] as const;

/** Mostly valid requests with up to three fields replaced by edge values or removed. */
const candidate = fc
  .tuple(
    fc.record(
      {
        userId: fc.string({ minLength: 1, maxLength: 10 }),
        channel: fc.constantFrom('push', 'email', 'sms', 'inapp'),
        campaignId: fc.string({ minLength: 1, maxLength: 10 }),
        category: fc.string({ minLength: 1, maxLength: 10 }),
        priority: fc.constantFrom('low', 'normal', 'high'),
        transactional: fc.boolean(),
        dryRun: fc.boolean(),
        withItem: fc.boolean(),
        overrideCaps: fc.boolean(),
      },
      { requiredKeys: ['userId', 'channel', 'campaignId'] },
    ),
    fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.option(edgeValue, { nil: undefined })), {
      maxLength: 3,
    }),
  )
  .map(([valid, changes]) => {
    const body: Record<string, unknown> = { ...valid };
    for (const [field, value] of changes) {
      if (value === undefined) delete body[field];
      else body[field] = value;
    }
    return body;
  });

describe('push decision request validation', () => {
  it('the hand check vouches only for bodies the schema accepts, and parses them as the schema does', () => {
    let vouched = 0;
    fc.assert(
      fc.property(fc.oneof(candidate, edgeValue), (raw) => {
        const fast = pushDecisionRequestFast(raw);
        const bySchema = PushDecisionRequest.safeParse(raw);
        if (fast === null) return;
        vouched++;
        expect(bySchema.success).toBe(true);
        expect(fast).toStrictEqual(bySchema.data);
      }),
      { numRuns: 20_000 },
    );
    // Many candidates are valid, so the property is checked on thousands of vouched bodies, not vacuously.
    expect(vouched).toBeGreaterThan(2_000);
  });

  it('the hand check takes every well-formed body, so valid decisions never pay the zod parse', () => {
    fc.assert(
      fc.property(candidate, (raw) => {
        if (PushDecisionRequest.safeParse(raw).success) expect(pushDecisionRequestFast(raw)).not.toBeNull();
      }),
      { numRuns: 5_000 },
    );
  });
});
