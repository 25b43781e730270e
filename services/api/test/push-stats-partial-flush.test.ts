import type { PushStatsReply } from '@elevens/domain';
import { epochHour } from '@elevens/redis-stores';
import { createLogSink, createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;
/** The decisions' clock: each test sets it, so no outcome depends on the time of day the tests run at. */
let nowMs = Date.parse('2026-11-11T12:00:00.000Z');
/** The failed flush's warnings, kept out of the test output. */
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('api-push-stats-flush');
  app = await buildApiApp({
    // Flushed by the test alone: the timer's next flush is a minute away.
    config: loadApiConfig({ ...infra.env, PUSH_STATS_FLUSH_MS: '60000' }),
    now: () => nowMs,
    logging: { stream: logs.stream },
  });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

async function decideAt(atIso: string, campaignId: string) {
  nowMs = Date.parse(atIso);
  const response = await app.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    payload: { userId: `u-${campaignId}`, channel: 'push', campaignId },
  });
  expect(response.json()).toMatchObject({ allowed: true });
}

describe('push decision counts', () => {
  it('are added once when a flush adds one hour and fails on another', async () => {
    await decideAt('2026-11-10T23:59:59.000Z', 'before-midnight');
    await decideAt('2026-11-11T00:00:01.000Z', 'after-midnight');
    // The first hour's hash cannot be added to (as a cluster node that is failing over): that call fails, the
    // other hour's succeeds.
    const blocked = infra.keys.pushStatsHour(epochHour(Date.parse('2026-11-10T23:00:00.000Z')));
    await infra.redis.set(blocked, 'not a hash');
    await expect(app.pushStats.flush()).rejects.toThrow();
    await infra.redis.del(blocked);
    await app.pushStats.flush();

    const response = await app.inject({
      method: 'GET',
      url: '/v1/push/stats?from=2026-11-10T23:00:00Z&to=2026-11-11T01:00:00Z',
    });
    const stats: PushStatsReply = response.json();
    expect(stats.byCampaign).toEqual({ 'before-midnight': 1, 'after-midnight': 1 });
    expect(stats.total).toBe(2);
  });
});
