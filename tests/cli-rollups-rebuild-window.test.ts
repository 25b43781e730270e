import { pruneEvents, readRollups } from '@elevens/db';
import { encodeRecommendationAnswerId } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runElevens } from './support/service-processes';

const HOUR_MS = 3_600_000;
const CLICK_MS = Date.parse('2026-11-11T00:00:00Z');

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('cli-rollups-window');
  const answer = encodeRecommendationAnswerId({
    modelVersion: 'v1',
    placement: 'home',
    experiment: 'window',
    arm: 'a',
    answeredAtMs: CLICK_MS,
  });
  // A purchase three days after its click: attributed under a week's window, not under a day's. Stored before
  // the worker's watermark, as an import would: only a rebuild counts them.
  await infra.pool.query(
    `INSERT INTO events (event_id, user_id, item_id, type, ts, recommendation_id, price, received_at) VALUES
       ('w-click', 'u1', 'i1', 'click', to_timestamp($1 / 1000.0), $2, NULL, '2020-01-01T00:00:00Z'),
       ('w-buy', 'u1', 'i1', 'purchase', to_timestamp($3 / 1000.0), NULL, 10, '2020-01-01T00:00:00Z')`,
    [CLICK_MS, answer, CLICK_MS + 72 * HOUR_MS],
  );
});

afterAll(async () => {
  await infra?.close();
});

const attributedPurchases = async () =>
  (await readRollups(infra.pool, CLICK_MS, CLICK_MS + 96 * HOUR_MS))
    .filter((row) => row.arm === 'a')
    .reduce((sum, row) => sum + row.purchases, 0);

// Run with ingest's environment, a rebuild must count as the worker does: the next hours it rolls up agree.
describe('elevens rollups rebuild and ATTRIBUTION_WINDOW', () => {
  it('counts with the ATTRIBUTION_WINDOW of its environment when --window is not given', async () => {
    const { code, stdout, stderr } = await runElevens(['rollups', 'rebuild'], {
      ...infra.env,
      ATTRIBUTION_WINDOW: '7d',
    });
    expect(code, stdout + stderr).toBe(0);
    expect(await attributedPurchases()).toBe(1);
  });

  it('counts with --window when given, over ATTRIBUTION_WINDOW', async () => {
    const { code, stdout, stderr } = await runElevens(['rollups', 'rebuild', '--window', '24h'], {
      ...infra.env,
      ATTRIBUTION_WINDOW: '7d',
    });
    expect(code, stdout + stderr).toBe(0);
    expect(await attributedPurchases()).toBe(0);
  });

  it('refuses an ATTRIBUTION_WINDOW that is not a duration in one line', async () => {
    const { code, stderr } = await runElevens(['rollups', 'rebuild'], {
      ...infra.env,
      ATTRIBUTION_WINDOW: 'a week',
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('ATTRIBUTION_WINDOW');
  });
});

describe('elevens rollups rebuild over pruned hours', () => {
  it('refuses a --from before the oldest event stored whose hours hold roll-ups, changing nothing', async () => {
    const prunedMs = CLICK_MS - 30 * 24 * HOUR_MS;
    await infra.pool.query(
      `INSERT INTO events (event_id, user_id, item_id, type, ts, received_at)
       VALUES ('p-view', 'u2', 'i2', 'view', to_timestamp($1 / 1000.0), '2020-01-01T00:00:00Z')`,
      [prunedMs],
    );
    const counted = await runElevens(['rollups', 'rebuild'], infra.env);
    expect(counted.code, counted.stdout + counted.stderr).toBe(0);
    await pruneEvents(infra.pool, prunedMs + 24 * HOUR_MS);
    // As a database pruned before prunes recorded their cut-off (migration 0018): the events stored are all
    // that tells which hours were pruned.
    await infra.pool.query('DELETE FROM event_prune_cut_off');
    const prunedHour = async () =>
      (await readRollups(infra.pool, prunedMs, prunedMs + HOUR_MS)).reduce((sum, row) => sum + row.events, 0);
    expect(await prunedHour()).toBe(1);
    const purchasesBefore = await attributedPurchases();

    const from = new Date(prunedMs - 24 * HOUR_MS).toISOString();
    const refused = await runElevens(['rollups', 'rebuild', '--from', from], infra.env);
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expect(
      refused.stderr
        .replace(/^elevens: no compiled CLI.*\n/m, '')
        .trim()
        .split('\n'),
    ).toEqual([
      'the roll-ups of 2026-10-12T00:00:00.000Z – 2026-10-12T01:00:00.000Z outlive their events (pruned): a ' +
        'rebuild would replace them with nothing; nothing rebuilt: rebuild from 2026-11-11T00:00:00.000Z (the hour ' +
        'of the oldest event stored) or later, or leave --from out',
    ]);
    expect(await prunedHour()).toBe(1);
    expect(await attributedPurchases()).toBe(purchasesBefore);

    // From the oldest event's hour, or by default, the rebuild runs and leaves the pruned hours' roll-ups.
    const fromOldest = await runElevens(
      ['rollups', 'rebuild', '--from', new Date(CLICK_MS).toISOString()],
      infra.env,
    );
    expect(fromOldest.code, fromOldest.stdout + fromOldest.stderr).toBe(0);
    const byDefault = await runElevens(['rollups', 'rebuild'], infra.env);
    expect(byDefault.code, byDefault.stdout + byDefault.stderr).toBe(0);
    expect(await prunedHour()).toBe(1);
  });
});
