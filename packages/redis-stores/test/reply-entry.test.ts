import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeReplyEntry, encodeReplyEntry, type ReplyEntry } from '../src/index';

/** Header fields hold no tab or newline (ids, versions, digits; the query is JSON text). */
const field = fc.string({ maxLength: 20 }).filter((s) => !/[\t\n]/.test(s));
const entry: fc.Arbitrary<ReplyEntry> = fc.record({
  stamp: field.filter((s) => s.length > 0),
  modelVersion: field,
  boostRulesVersion: fc.nat().map(String),
  catalogVersion: field,
  computedAtMs: fc.nat(),
  validUntilMs: fc.nat(),
  experiment: fc.option(
    field.filter((s) => s.length > 0),
    { nil: null },
  ),
  arm: fc.option(
    field.filter((s) => s.length > 0),
    { nil: null },
  ),
  query: fc.jsonValue().map((value) => JSON.stringify(value)),
  json: fc.jsonValue().map((value) => JSON.stringify(value, null, 1)),
});

describe('reply cache entries', () => {
  it('decode to what was encoded, under the stamp they were written with', () => {
    fc.assert(
      fc.property(entry, (written) => {
        expect(decodeReplyEntry(encodeReplyEntry(written), written.stamp)).toEqual(written);
      }),
    );
  });

  it('decode to null under another stamp, and when malformed', () => {
    fc.assert(
      fc.property(entry, field, (written, other) => {
        fc.pre(other !== written.stamp);
        expect(decodeReplyEntry(encodeReplyEntry(written), other)).toBeNull();
      }),
    );
    for (const text of ['', 's1', 's1\tv1\n{}', 's1\t\t\t\t\t\t\t\t\t\n{}'])
      expect(decodeReplyEntry(text, 's1')).toBeNull();
  });
});
