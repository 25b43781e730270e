import {
  decodeAnswerId,
  encodePushAnswerId,
  encodeRecommendationAnswerId,
  type StoredEvent,
} from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attributeNewEvents,
  foldIntoRollups,
  insertEvents,
  type RollupRow,
  readRollups,
  zeroRollupCounts,
} from '../src';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('db-attribution-dimensions');
});

afterAll(async () => {
  await infra.close();
});

const HOUR_MS = 3_600_000;
const BASE_MS = Date.UTC(2026, 10, 11);

const fieldArb = fc.option(fc.string({ unit: 'grapheme', maxLength: 40 }), { nil: null });
const nonceArb = fc.stringMatching(/^[A-Za-z0-9_-]{0,8}$/);
const timeArb = fc.integer({ min: 0, max: 2 ** 48 - 1 });

const issuedArb = fc.oneof(
  fc
    .tuple(fieldArb, fieldArb, fieldArb, fieldArb, timeArb, nonceArb)
    .map(([modelVersion, placement, experiment, arm, answeredAtMs, nonce]) =>
      encodeRecommendationAnswerId({ modelVersion, placement, experiment, arm, answeredAtMs }, nonce),
    ),
  fc
    .tuple(fieldArb, fieldArb, timeArb, nonceArb)
    .map(([campaign, modelVersion, answeredAtMs, nonce]) =>
      encodePushAnswerId({ campaign, modelVersion, answeredAtMs }, nonce),
    ),
  // A few dimension sets answered many times: ids that differ only in time and nonce.
  fc
    .tuple(fc.constantFrom('v1', 'v2'), fc.constantFrom('home', 'cart'), timeArb, nonceArb)
    .map(([modelVersion, placement, answeredAtMs, nonce]) =>
      encodeRecommendationAnswerId(
        { modelVersion, placement, experiment: 'exp', arm: 'b', answeredAtMs },
        nonce,
      ),
    ),
);

/** An issued id with one character replaced, inserted or cut off: most decode to nothing, some to other dimensions. */
const damagedArb = fc
  .tuple(
    issuedArb,
    fc.nat(),
    fc.constantFrom('replace', 'insert', 'cut'),
    fc.constantFrom('.', '!', 'A', '_', '-', '0', 'é', '='),
  )
  .map(([id, at, how, c]) => {
    const i = at % (id.length + 1);
    if (how === 'cut') return id.slice(0, i);
    return id.slice(0, i) + c + id.slice(how === 'replace' ? i + 1 : i);
  });

const answerIdArb = fc.oneof(
  issuedArb,
  damagedArb,
  fc.stringMatching(/^[rp]1\.[A-Za-z0-9_-]{0,16}\.[A-Za-z0-9_-]{0,8}$/),
  fc.uuid(),
  fc.constant(`r1.${'A'.repeat(140)}.abcdef`),
);

describe('attribution grouped per dimension set', () => {
  it('rolls up exactly as decoding every event’s own answer id would', async () => {
    const ids = fc.sample(fc.option(answerIdArb, { freq: 8, nil: null }), { numRuns: 3_000, seed: 11 });
    const events: StoredEvent[] = ids.map((recommendationId, i) => ({
      eventId: `e${i}`,
      userId: `u${i % 7}`,
      itemId: `i${i % 5}`,
      type: 'impression',
      timestampMs: BASE_MS + (i % 3) * HOUR_MS,
      sessionId: null,
      // Postgres text cannot hold NUL; the api refuses such ids.
      recommendationId: recommendationId?.replaceAll('\0', '') ?? null,
      quantity: null,
      price: null,
      properties: null,
    }));
    await insertEvents(infra.pool, events);
    const insertedMs = Date.now();
    for (;;) {
      const step = await attributeNewEvents(infra.pool, {
        windowMs: 24 * HOUR_MS,
        safetyLagMs: 0,
        maxSpanMs: 300_000,
      });
      if (!step.behind && step.toMs > insertedMs) break;
    }
    // Brute force over the ids as stored (a lone surrogate is stored as U+FFFD): one decode per event.
    const { rows: stored } = await infra.pool.query<{ ts: Date; recommendation_id: string | null }>(
      'SELECT ts, recommendation_id FROM events',
    );
    const expected = foldIntoRollups(
      stored.map((r) => ({
        hourMs: r.ts.getTime(),
        answer: r.recommendation_id === null ? null : decodeAnswerId(r.recommendation_id),
        ...zeroRollupCounts(),
        events: 1,
        impressions: 1,
      })),
    );
    const order = (rows: Iterable<RollupRow>) =>
      [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const actual = await readRollups(infra.pool, BASE_MS, BASE_MS + 3 * HOUR_MS);
    expect(order(actual)).toEqual(order(expected.values()));
    expect(new Set(actual.map((r) => r.kind))).toEqual(
      new Set(['recommendation', 'push', 'unknown', 'none']),
    );
  });
});
