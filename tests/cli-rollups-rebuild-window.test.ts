import { readRollups } from '@elevens/db';
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
