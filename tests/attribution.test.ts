import {
  attributeNewEvents,
  DEFAULT_ATTRIBUTION_WINDOW_MS,
  type RollupRow,
  readRollups,
  rebuildRollups,
  rollupKeyOf,
  zeroRollupCounts,
} from '@elevens/db';
import { decodeAnswerId, encodePushAnswerId, encodeRecommendationAnswerId } from '@elevens/domain';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOUR_MS = 3_600_000;
const BASE_MS = Date.parse('2026-11-10T20:00:00Z');
const SAFETY_LAG_MS = 50;
const STEP = { windowMs: DEFAULT_ATTRIBUTION_WINDOW_MS, safetyLagMs: SAFETY_LAG_MS, maxSpanMs: 300_000 };

const ANSWERS = [
  encodeRecommendationAnswerId(
    { modelVersion: 'v1', placement: 'home', experiment: 'exp', arm: 'control', answeredAtMs: BASE_MS },
    'aaaaaa',
  ),
  encodeRecommendationAnswerId(
    { modelVersion: 'v2', placement: 'home', experiment: 'exp', arm: 'b', answeredAtMs: BASE_MS },
    'bbbbbb',
  ),
  encodeRecommendationAnswerId(
    { modelVersion: 'v1', placement: 'cart', experiment: null, arm: null, answeredAtMs: BASE_MS },
    'cccccc',
  ),
  encodePushAnswerId({ campaign: 'singles-day', modelVersion: null, answeredAtMs: BASE_MS }, 'dddddd'),
  '6f1c1a52-3b1e-4f57-9a43-7d1d3b1e0c11',
  'r1.not-base64!.x',
];

const eventArbitrary = fc.record(
  {
    userId: fc.constantFrom('u1', 'u2', 'u3', 'u4'),
    itemId: fc.constantFrom('i1', 'i2', 'i3'),
    type: fc.constantFrom('impression', 'impression', 'click', 'cart', 'purchase', 'view'),
    // Some pairs of events share a timestamp, so the tie-break of the last touch is exercised too.
    timestamp: fc.integer({ min: 0, max: 40 }).map((minute) => BASE_MS + minute * 9 * 60_000),
    recommendationId: fc.option(fc.constantFrom(...ANSWERS), { freq: 2, nil: undefined }),
    quantity: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    price: fc.option(
      fc.integer({ min: 1, max: 9_999 }).map((cents) => cents / 100),
      { nil: undefined },
    ),
  },
  { requiredKeys: ['userId', 'itemId', 'type', 'timestamp'] },
);

interface RawEvent {
  event_id: string;
  user_id: string;
  item_id: string;
  type: string;
  ts: Date;
  recommendation_id: string | null;
  quantity: number | null;
  price: number | null;
  /** microseconds: Postgres compares receive times at that precision, a Date would round them to ms */
  received_us: number;
}

/**
 * The answer id an event is attributed to, by brute force: its own recommendation id; else, for a click, cart or
 * purchase, that of the last touch of the same user and item in the window, received no later.
 */
function attributedAnswer(e: RawEvent, events: readonly RawEvent[], windowMs: number): string | null {
  if (e.recommendation_id !== null || !['click', 'cart', 'purchase'].includes(e.type))
    return e.recommendation_id;
  const later = (a: RawEvent, b: RawEvent) =>
    a.ts.getTime() !== b.ts.getTime() ? a.ts > b.ts : a.event_id > b.event_id;
  let touch: RawEvent | null = null;
  for (const t of events) {
    const eligible =
      t.user_id === e.user_id &&
      t.item_id === e.item_id &&
      (t.type === 'impression' || t.type === 'click') &&
      t.recommendation_id !== null &&
      t.ts.getTime() <= e.ts.getTime() &&
      t.ts.getTime() > e.ts.getTime() - windowMs &&
      t.received_us <= e.received_us;
    if (eligible && (touch === null || later(t, touch))) touch = t;
  }
  return touch?.recommendation_id ?? null;
}

interface UserRollupRow {
  experiment: string;
  hourMs: number;
  arm: string;
  userId: string;
  impressions: number;
  clicks: number;
  purchases: number;
  revenue: number;
}

/** The per-user roll-ups by brute force: events attributed to recommendation answers naming an experiment. */
function bruteForceUserRollups(events: readonly RawEvent[], windowMs: number): UserRollupRow[] {
  const rows = new Map<string, UserRollupRow>();
  for (const e of events) {
    const answer = attributedAnswer(e, events, windowMs);
    const d = answer === null ? null : decodeAnswerId(answer);
    if (d?.kind !== 'recommendation' || d.experiment === null) continue;
    if (!['impression', 'click', 'purchase'].includes(e.type)) continue;
    const hourMs = Math.floor(e.ts.getTime() / HOUR_MS) * HOUR_MS;
    const key = JSON.stringify([d.experiment, hourMs, d.arm ?? '', e.user_id]);
    const row = rows.get(key) ?? {
      experiment: d.experiment,
      hourMs,
      arm: d.arm ?? '',
      userId: e.user_id,
      impressions: 0,
      clicks: 0,
      purchases: 0,
      revenue: 0,
    };
    if (e.type === 'impression') row.impressions += 1;
    if (e.type === 'click') row.clicks += 1;
    if (e.type === 'purchase') {
      row.purchases += 1;
      row.revenue += (e.price ?? 0) * (e.quantity ?? 1);
    }
    rows.set(key, row);
  }
  return comparableUsers(rows.values());
}

const comparableUsers = (rows: Iterable<UserRollupRow>) =>
  [...rows]
    .map((r) => ({ ...r, revenue: Math.round(r.revenue * 100) / 100 }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

async function storedUserRollups(): Promise<UserRollupRow[]> {
  const { rows } = await infra.pool.query<{
    experiment: string;
    hour: Date;
    arm: string;
    user_id: string;
    impressions: number;
    clicks: number;
    purchases: number;
    revenue: number;
  }>('SELECT * FROM attribution_user_rollups');
  return comparableUsers(
    rows.map((r) => ({
      experiment: r.experiment,
      hourMs: r.hour.getTime(),
      arm: r.arm,
      userId: r.user_id,
      impressions: r.impressions,
      clicks: r.clicks,
      purchases: r.purchases,
      revenue: r.revenue,
    })),
  );
}

/**
 * The roll-ups by brute force over the raw events: every event against every other, the rule of
 * docs/attribution.md spelled out in full (own recommendation id; else the last touch of the same user and item
 * in the window, received no later).
 */
function bruteForceRollups(events: readonly RawEvent[], windowMs: number): Map<string, RollupRow> {
  const rows = new Map<string, RollupRow>();
  for (const e of events) {
    const answer = attributedAnswer(e, events, windowMs);
    const key = rollupKeyOf(
      Math.floor(e.ts.getTime() / HOUR_MS) * HOUR_MS,
      answer === null ? null : decodeAnswerId(answer),
    );
    const text = JSON.stringify(key);
    const row = rows.get(text) ?? { ...key, ...zeroRollupCounts() };
    row.events += 1;
    if (e.type === 'impression') row.impressions += 1;
    if (e.type === 'click') row.clicks += 1;
    if (e.type === 'cart') row.carts += 1;
    if (e.type === 'purchase') {
      const quantity = e.quantity ?? 1;
      const revenue = (e.price ?? 0) * quantity;
      row.purchases += 1;
      row.units += quantity;
      row.revenue += revenue;
      row.revenueSquares += e.price === null ? 0 : revenue * revenue;
    }
    rows.set(text, row);
  }
  return rows;
}

/** Roll-up rows in one order with money rounded to cents, for comparing. */
const comparable = (rows: Iterable<RollupRow>) =>
  [...rows]
    .map((r) => ({
      ...r,
      revenue: Math.round(r.revenue * 100) / 100,
      revenueSquares: Math.round(r.revenueSquares * 100) / 100,
    }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

let infra: TestInfra;

function ingestApp(enabled: boolean) {
  const config = {
    ...loadIngestConfig({ ...infra.env, LOG_LEVEL: 'silent' }),
    ATTRIBUTION_ENABLED: enabled,
    ATTRIBUTION_INTERVAL_MS: 20,
    ATTRIBUTION_SAFETY_LAG_MS: SAFETY_LAG_MS,
  };
  return buildIngestApp({ config });
}

async function send(app: IngestApp, events: readonly unknown[]) {
  const response = await app.inject({ method: 'POST', url: '/v1/events', payload: { events } });
  expect(response.statusCode, response.body).toBeLessThan(300);
}

async function rawEvents(): Promise<RawEvent[]> {
  const { rows } = await infra.pool.query<RawEvent>(
    `SELECT event_id, user_id, item_id, type, ts, recommendation_id, quantity, price,
            (extract(epoch FROM received_at) * 1000000)::bigint AS received_us
     FROM events`,
  );
  return rows;
}

/** Rolls up everything received until now (the events sent so far): no sleep to guess how long that takes. */
async function catchUp(app: IngestApp) {
  await app.attribution.catchUp(Date.now());
}

beforeAll(async () => {
  infra = await createTestInfra('attribution');
});

afterAll(async () => {
  await infra.close();
});

describe('attribution roll-ups', () => {
  it('equal a brute-force count over the raw events, with concurrent ingest, two workers and a restart', async () => {
    const batches = fc.sample(fc.array(eventArbitrary, { minLength: 1, maxLength: 40 }), {
      numRuns: 60,
      seed: 19,
    });
    let first = await ingestApp(true);
    const second = await ingestApp(true);
    await Promise.all([first.ready(), second.ready()]);
    // Two ingest processes write and roll up at once; the first is restarted halfway through.
    for (let i = 0; i < batches.length; i += 6) {
      const group = batches.slice(i, i + 6);
      await Promise.all(group.map((batch, j) => send(j % 2 === 0 ? first : second, batch)));
      if (i === 30) {
        await first.close();
        first = await ingestApp(true);
        await first.ready();
      }
    }
    await second.close();
    await catchUp(first);
    await first.close();

    const expected = comparable(bruteForceRollups(await rawEvents(), DEFAULT_ATTRIBUTION_WINDOW_MS).values());
    const stored = comparable(await readRollups(infra.pool, 0, BASE_MS + 48 * HOUR_MS));
    expect(stored).toEqual(expected);
    expect(stored.some((r) => r.kind === 'recommendation' && r.arm === 'b')).toBe(true);
    expect(stored.some((r) => r.kind === 'push' && r.campaign === 'singles-day')).toBe(true);
    expect(stored.some((r) => r.kind === 'unknown')).toBe(true);
    const users = await storedUserRollups();
    expect(users).toEqual(bruteForceUserRollups(await rawEvents(), DEFAULT_ATTRIBUTION_WINDOW_MS));
    expect(new Set(users.map((r) => r.arm))).toEqual(new Set(['control', 'b']));
    expect(users.some((r) => r.purchases > 0)).toBe(true);
  });

  it('never counts a step twice: re-running after catching up adds nothing', async () => {
    const before = comparable(await readRollups(infra.pool, 0, BASE_MS + 48 * HOUR_MS));
    const step = await attributeNewEvents(infra.pool, STEP);
    expect(step.events).toBe(0);
    expect(comparable(await readRollups(infra.pool, 0, BASE_MS + 48 * HOUR_MS))).toEqual(before);
  });

  it('rebuilds, whole or in part, to the same roll-ups', async () => {
    const before = comparable(await readRollups(infra.pool, 0, BASE_MS + 48 * HOUR_MS));
    const usersBefore = await storedUserRollups();
    await infra.pool.query('UPDATE attribution_rollups SET clicks = clicks + 7');
    await infra.pool.query('UPDATE attribution_user_rollups SET clicks = clicks + 7');
    await rebuildRollups(infra.pool, { windowMs: DEFAULT_ATTRIBUTION_WINDOW_MS });
    expect(comparable(await readRollups(infra.pool, 0, BASE_MS + 48 * HOUR_MS))).toEqual(before);
    expect(await storedUserRollups()).toEqual(usersBefore);
    for (const table of ['attribution_rollups', 'attribution_user_rollups'])
      await infra.pool.query(`DELETE FROM ${table} WHERE hour >= $1`, [new Date(BASE_MS + 2 * HOUR_MS)]);
    const report = await rebuildRollups(infra.pool, {
      fromMs: BASE_MS + 2 * HOUR_MS + 5,
      toMs: BASE_MS + 30 * HOUR_MS,
      windowMs: DEFAULT_ATTRIBUTION_WINDOW_MS,
    });
    expect(report.fromMs).toBe(BASE_MS + 2 * HOUR_MS);
    expect(comparable(await readRollups(infra.pool, 0, BASE_MS + 48 * HOUR_MS))).toEqual(before);
    expect(await storedUserRollups()).toEqual(usersBefore);
  });

  it('rebuilds up to --to on the hour, not the hour starting there, and reports that end', async () => {
    const toMs = BASE_MS + HOUR_MS;
    const hourAt = async (hourMs: number) =>
      comparable(await readRollups(infra.pool, hourMs, hourMs + HOUR_MS));
    const rebuilt = await hourAt(BASE_MS);
    expect(rebuilt.length).toBeGreaterThan(0);
    // The hour starting at --to holds counts the rebuild must leave as they are.
    await infra.pool.query('UPDATE attribution_rollups SET clicks = clicks + 7 WHERE hour = $1', [
      new Date(toMs),
    ]);
    const after = await hourAt(toMs);
    expect(after.length).toBeGreaterThan(0);
    await infra.pool.query('UPDATE attribution_rollups SET clicks = clicks + 5 WHERE hour = $1', [
      new Date(BASE_MS),
    ]);
    const report = await rebuildRollups(infra.pool, {
      fromMs: BASE_MS,
      toMs,
      windowMs: DEFAULT_ATTRIBUTION_WINDOW_MS,
    });
    expect([report.fromMs, report.toMs]).toEqual([BASE_MS, toMs]);
    expect(await hourAt(BASE_MS)).toEqual(rebuilt);
    expect(await hourAt(toMs)).toEqual(after);
    await infra.pool.query('UPDATE attribution_rollups SET clicks = clicks - 7 WHERE hour = $1', [
      new Date(toMs),
    ]);
  });

  it('leaves events received after the watermark to the worker, so a rebuild then a step count them once', async () => {
    const app = await ingestApp(false);
    await send(app, [
      { userId: 'u9', itemId: 'i9', type: 'impression', timestamp: BASE_MS, recommendationId: ANSWERS[1] },
      { userId: 'u9', itemId: 'i9', type: 'purchase', timestamp: BASE_MS + 60_000, price: 10, quantity: 2 },
    ]);
    await rebuildRollups(infra.pool, { windowMs: DEFAULT_ATTRIBUTION_WINDOW_MS });
    await catchUp(app);
    await app.close();
    const expected = comparable(bruteForceRollups(await rawEvents(), DEFAULT_ATTRIBUTION_WINDOW_MS).values());
    expect(comparable(await readRollups(infra.pool, 0, BASE_MS + 48 * HOUR_MS))).toEqual(expected);
    expect(await storedUserRollups()).toEqual(
      bruteForceUserRollups(await rawEvents(), DEFAULT_ATTRIBUTION_WINDOW_MS),
    );
  });
});
