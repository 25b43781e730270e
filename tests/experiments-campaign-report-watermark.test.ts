import { connectClient, type PoolClient } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CampaignReport, campaignReport } from '../packages/cli/src/commands/report';
import { type BatchInfra, openBatchInfra } from '../packages/cli/src/infra';

/**
 * `elevens report campaign` says up to which receive time its roll-ups are complete ("Roll-ups hold the events
 * received before …"), as `countedUntil` does in the report routes. A worker step that commits while the report
 * reads must never make that claim pass the counts its tables show: a marketer would take the experiment's
 * newest events as counted when they are not.
 */
const HOUR = '2026-11-11T00:00:00Z';
const BEFORE_STEP = new Date('2026-11-11T00:30:00Z');
const AFTER_STEP = new Date('2026-11-11T00:30:01Z');
let infra: TestInfra;
let batch: BatchInfra;

beforeAll(async () => {
  infra = await createTestInfra('experiments-campaign-report-watermark');
  batch = openBatchInfra({
    DATABASE_URL: infra.env.DATABASE_URL!,
    REDIS_URL: infra.env.REDIS_URL!,
    REDIS_KEY_PREFIX: infra.env.REDIS_KEY_PREFIX!,
  });
});

afterAll(async () => {
  await batch?.close();
  await infra?.close();
});

/** Adds `impressions` impressions of arm control of experiment `fest` in the hour, as a worker step's upsert. */
const addImpressions = (db: Pick<PoolClient, 'query'>, impressions: number) =>
  db.query(
    `INSERT INTO attribution_rollups (hour, kind, model_version, placement, experiment, arm, events, impressions)
     VALUES ($1, 'recommendation', 'v1', 'home', 'fest', 'control', $2, $2)
     ON CONFLICT (hour, kind, model_version, placement, experiment, arm, campaign) DO UPDATE SET
       events = attribution_rollups.events + EXCLUDED.events,
       impressions = attribution_rollups.impressions + EXCLUDED.impressions`,
    [HOUR, impressions],
  );

/** Whether the report is down to one query, waiting on a lock: every other read of it has answered. */
async function onlyWaitingQueryLeft(): Promise<boolean> {
  const { rows } = await infra.pool.query<{ waiting: number }>(
    `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock')::int AS waiting
     FROM pg_stat_activity
     WHERE datname = current_database() AND application_name = 'elevens-cli' AND state = 'active'`,
  );
  return (
    rows[0]!.waiting === 1 &&
    batch.pool.waitingCount === 0 &&
    batch.pool.totalCount - batch.pool.idleCount === 1
  );
}

const sectionEvents = (report: CampaignReport, title: string, group: string) =>
  report.sections.find((s) => s.title === title)?.rows.find((r) => r.group === group)?.events;

describe('the campaign report read while a worker step commits', () => {
  it('claims no receive time past the counts it shows', async () => {
    await addImpressions(infra.pool, 5);
    await infra.pool.query('UPDATE attribution_state SET watermark = $1', [BEFORE_STEP]);

    // A worker step: 3 more impressions and the watermark past them, in one transaction. Its lock holds any read
    // of the watermark until it commits, which it does once every read the report does not wait for is answered.
    const step: PoolClient = await connectClient(infra.pool);
    let report: CampaignReport;
    try {
      await step.query('BEGIN');
      await step.query('LOCK TABLE attribution_state IN ACCESS EXCLUSIVE MODE');
      await addImpressions(step, 3);
      await step.query('UPDATE attribution_state SET watermark = $1', [AFTER_STEP]);
      const reading = campaignReport(batch, Date.parse(HOUR), Date.parse(HOUR) + 3_600_000);
      await expect.poll(onlyWaitingQueryLeft, { timeout: 5_000, interval: 10 }).toBe(true);
      await step.query('COMMIT');
      report = await reading;
    } finally {
      // Ends the step however the test went (after its commit, a no-op), so the report's read is never left held.
      await step.query('ROLLBACK');
      step.release();
    }

    expect(report.countedUntilMs).toBe(AFTER_STEP.getTime());
    // Every section counts the step whose events the claim covers.
    expect(sectionEvents(report, 'Events by attribution', 'recommendation')).toBe(8);
    expect(sectionEvents(report, 'Per hour (UTC)', '2026-11-11T00:00:00.000Z')).toBe(8);
    expect(sectionEvents(report, 'Experiment fest by arm', 'control')).toBe(8);
  });
});
