import type { PushDecisionReply, PushReport, PushStatsReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;
const MINUTE_MS = 60_000;
/** The api's clock: a fixed instant, moved by the test, so no outcome depends on the time of day. */
const T0 = Date.parse('2026-11-11T16:00:30.000Z');
let clock = T0;

beforeAll(async () => {
  infra = await createTestInfra('api-push-released-sends');
  app = await buildApiApp({ config: loadApiConfig(infra.env), now: () => clock });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

async function decide(userId: string, campaignId: string): Promise<PushDecisionReply> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    payload: { userId, channel: 'push', campaignId },
  });
  expect(response.statusCode).toBe(200);
  return response.json();
}

const release = (decisionId: string) =>
  app.inject({ method: 'DELETE', url: `/v1/push/decisions/${encodeURIComponent(decisionId)}` });

describe('a released decision was not sent', () => {
  it('is left out of the sends of the stats, the push report and the live monitor', async () => {
    await app.monitor.sample();
    clock = T0 + MINUTE_MS;
    const kept = await decide('r1', 'released-campaign');
    const failed = await decide('r2', 'released-campaign');
    expect([kept.allowed, failed.allowed]).toEqual([true, true]);
    expect((await release(failed.decisionId)).json()).toMatchObject({ released: true });
    // Releasing again releases nothing, and counts nothing again.
    expect((await release(failed.decisionId)).json()).toMatchObject({ released: false });

    const range = 'from=2026-11-11T15:00:00Z&to=2026-11-11T18:00:00Z';
    const stats = (
      await app.inject({ method: 'GET', url: `/v1/push/stats?${range}` })
    ).json() as PushStatsReply;
    expect(stats).toMatchObject({ total: 2, released: 1, releasedByCampaign: { 'released-campaign': 1 } });
    expect(stats.byReason).toEqual({ ok: 2 });
    expect(stats.byCampaign['released-campaign']).toBe(2);

    const report = await app.inject({ method: 'GET', url: `/v1/reports/push?${range}&groupBy=campaign` });
    expect(report.statusCode, report.body).toBe(200);
    const group = (report.json() as PushReport).groups.find((g) => g.group === 'released-campaign');
    expect(group).toMatchObject({ sends: 1 });
    expect(group?.suppressed).toEqual({});

    await app.monitor.sample();
    clock = T0 + 2 * MINUTE_MS;
    await app.monitor.sample();
    const monitor = await app.inject({ method: 'GET', url: '/v1/dashboard/monitor?minutes=3' });
    expect(monitor.statusCode, monitor.body).toBe(200);
    const minutes = monitor.json().minutes as { pushSent: number }[];
    expect(minutes.reduce((sum, minute) => sum + minute.pushSent, 0)).toBe(1);
  });
});
