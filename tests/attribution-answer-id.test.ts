import {
  ANSWER_TIME_CHARS,
  campaignAttributionKey,
  decodeAnswerFields,
  decodeAnswerId,
  encodePushAnswerId,
  encodeRecommendationAnswerId,
  isExternalId,
  MAX_EXTERNAL_ID_LENGTH,
  UNKNOWN_ANSWER,
} from '@elevens/domain';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const nonce = fc.stringMatching(/^[A-Za-z0-9_-]{6}$/);
const field = (maxLength: number) =>
  fc.option(fc.string({ minLength: 1, maxLength, unit: 'grapheme' }), { nil: null });
const schemaId = (maxLength: number) =>
  fc.option(fc.stringMatching(new RegExp(`^[A-Za-z0-9_.:-]{1,${maxLength}}$`)), { nil: null });
const instant = fc.integer({ min: 0, max: 8.64e15 });

/** Bytes of a string's UTF-8. */
const utf8Length = (s: string | null) => Buffer.byteLength(s ?? '');

describe('answer ids', () => {
  it('round-trip every recommendation answer whose fields fit, and always fit ExternalId', () => {
    fc.assert(
      fc.property(
        fc.record({
          modelVersion: field(40),
          placement: schemaId(16),
          experiment: schemaId(20),
          arm: schemaId(16),
          answeredAtMs: instant,
        }),
        nonce,
        (answer, n) => {
          const id = encodeRecommendationAnswerId(answer, n);
          expect(isExternalId(id)).toBe(true);
          expect(id.length).toBeLessThanOrEqual(MAX_EXTERNAL_ID_LENGTH);
          const decoded = decodeAnswerId(id);
          expect(decoded.kind).toBe('recommendation');
          expect(decoded.answeredAtMs).toBe(Math.min(answer.answeredAtMs, 2 ** 48 - 1));
          expect([decoded.placement, decoded.experiment, decoded.arm]).toEqual([
            answer.placement,
            answer.experiment,
            answer.arm,
          ]);
          // A model version is clipped (at a character boundary) only when the other fields leave no room.
          const room =
            88 -
            6 -
            4 -
            utf8Length(answer.placement) -
            utf8Length(answer.experiment) -
            utf8Length(answer.arm);
          if (utf8Length(answer.modelVersion) <= room) expect(decoded.modelVersion).toBe(answer.modelVersion);
          else expect(answer.modelVersion!.startsWith(decoded.modelVersion ?? '')).toBe(true);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('round-trip push decisions: the campaign whole up to 56 bytes, else as its key; the model version in the room left', () => {
    fc.assert(
      fc.property(
        fc.record({ campaign: field(128), modelVersion: field(30), answeredAtMs: instant }),
        nonce,
        (answer, n) => {
          const id = encodePushAnswerId(answer, n);
          expect(isExternalId(id)).toBe(true);
          const decoded = decodeAnswerId(id);
          expect(decoded.kind).toBe('push');
          expect(decoded.placement).toBeNull();
          const key = answer.campaign === null ? null : campaignAttributionKey(answer.campaign);
          expect(decoded.campaign).toBe(key);
          if (utf8Length(answer.campaign) <= 56) expect(key).toBe(answer.campaign);
          else {
            expect(utf8Length(key)).toBeLessThanOrEqual(56);
            expect(answer.campaign!.startsWith(key!.slice(0, key!.lastIndexOf('~')))).toBe(true);
          }
          if (utf8Length(key) + utf8Length(answer.modelVersion) <= 88 - 6 - 2)
            expect(decoded.modelVersion).toBe(answer.modelVersion);
          else expect(answer.modelVersion!.startsWith(decoded.modelVersion ?? '')).toBe(true);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('keep long campaigns that share their beginning apart, and a model version of 24 bytes whole beside them', () => {
    const beginning = '2026-11-11-singles-day-midnight-flash-sale-push-notification-';
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 60 }), { minLength: 2, maxLength: 5 }),
        (endings) => {
          const campaigns = endings.map((ending) => beginning + ending);
          const keys = campaigns.map((campaign) => {
            const id = encodePushAnswerId({
              campaign,
              modelVersion: '20261111T000000Z-a1b2c3',
              answeredAtMs: 0,
            });
            expect(decodeAnswerId(id).modelVersion).toBe('20261111T000000Z-a1b2c3');
            return decodeAnswerId(id).campaign;
          });
          expect(new Set(keys).size).toBe(campaigns.length);
        },
      ),
    );
  });

  it('decode anything else to unknown dimensions, never throwing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.uuid(),
          fc.stringMatching(/^[rp]1\.[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,8}$/),
          fc.anything(),
        ),
        (value) => {
          const decoded = decodeAnswerId(value);
          if (decoded.kind === 'unknown') expect(decoded).toEqual(UNKNOWN_ANSWER);
          else expect(typeof value === 'string' && /^[rp]1\./.test(value)).toBe(true);
          for (const text of [
            decoded.modelVersion,
            decoded.placement,
            decoded.experiment,
            decoded.arm,
            decoded.campaign,
          ])
            expect(text === null || !text.includes('\0')).toBe(true);
        },
      ),
      { numRuns: 5_000 },
    );
    expect(decodeAnswerId('6f1c1a52-3b1e-4f57-9a43-7d1d3b1e0c11')).toEqual(UNKNOWN_ANSWER);
  });

  it('decode the same from the fields after the answer time alone, whatever the time and nonce', () => {
    const issued = fc.oneof(
      fc
        .record({
          modelVersion: field(40),
          placement: field(16),
          experiment: field(20),
          arm: field(16),
          answeredAtMs: instant,
        })
        .map((answer) => encodeRecommendationAnswerId(answer)),
      fc
        .record({ campaign: field(60), modelVersion: field(30), answeredAtMs: instant })
        .map((answer) => encodePushAnswerId(answer)),
      fc.stringMatching(/^[rp]1\.[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{1,8}$/),
    );
    fc.assert(
      fc.property(issued, (id) => {
        // The shape the attribution query checks before it keys an id by its fields.
        fc.pre(/^[rp]1[.][A-Za-z0-9_-]+[.][A-Za-z0-9_-]+$/.test(id) && id.length <= MAX_EXTERNAL_ID_LENGTH);
        const kind = id.startsWith('p') ? 'push' : 'recommendation';
        const fields = id.split('.')[1]!.slice(ANSWER_TIME_CHARS);
        const decoded = decodeAnswerId(id);
        expect(decodeAnswerFields(kind, fields)).toEqual(
          decoded.kind === 'unknown' ? UNKNOWN_ANSWER : { ...decoded, answeredAtMs: null },
        );
      }),
      { numRuns: 3_000 },
    );
    expect(decodeAnswerFields('recommendation', 'not base64!')).toEqual(UNKNOWN_ANSWER);
  });

  it('differ between two answers of the same instant (the nonce)', () => {
    const answer = { modelVersion: 'v', placement: 'home', experiment: null, arm: null, answeredAtMs: 1 };
    expect(encodeRecommendationAnswerId(answer)).not.toBe(encodeRecommendationAnswerId(answer));
  });
  it('carry the answer time as its 6 big-endian bytes in base64url, and the same fields the same way every time', () => {
    fc.assert(
      fc.property(instant, schemaId(16), nonce, (answeredAtMs, campaign, n) => {
        const id = encodePushAnswerId({ campaign, modelVersion: 'v1', answeredAtMs }, n);
        const time = Buffer.alloc(6);
        time.writeUIntBE(Math.min(answeredAtMs, 2 ** 48 - 1), 0, 6);
        expect(id.slice(3, 3 + ANSWER_TIME_CHARS)).toBe(time.toString('base64url'));
        expect(id.endsWith(`.${n}`)).toBe(true);
      }),
      { numRuns: 1_000 },
    );
    // More distinct field lists than the encoder keeps encoded: the first ones still encode as before.
    const first = { modelVersion: 'v7', placement: 'home', experiment: null, arm: null, answeredAtMs: 1 };
    const before = encodeRecommendationAnswerId(first, 'abcdef');
    for (let i = 0; i < 5_000; i++)
      encodeRecommendationAnswerId({ ...first, experiment: `e${i}`, arm: 'a' }, 'abcdef');
    expect(encodeRecommendationAnswerId(first, 'abcdef')).toBe(before);
    expect(decodeAnswerId(before)).toMatchObject({ modelVersion: 'v7', placement: 'home', experiment: null });
    // Field lists that join to the same text stay apart.
    const a = decodeAnswerId(
      encodeRecommendationAnswerId({ ...first, placement: 'a|1:b', experiment: null }),
    );
    const b = decodeAnswerId(encodeRecommendationAnswerId({ ...first, placement: 'a', experiment: 'b' }));
    expect([a.placement, a.experiment, b.placement, b.experiment]).toEqual(['a|1:b', null, 'a', 'b']);
  });
});
