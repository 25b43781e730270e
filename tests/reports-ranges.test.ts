import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { addRollups, createApiKey, type RollupRow, zeroRollupCounts } from '@elevens/db';
import type { PushReport, PushStatsReply, RecommendationsReport } from '@elevens/domain';
import { pushStatsField } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));
const HOUR_MS = 3_600_000;
/** 10:00 UTC: the first of the two hours holding decisions and events. */
const TEN_MS = Date.parse('2026-11-11T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

let infra: TestInfra;
let api: ApiApp;
let admin: string;

const get = (url: string) =>
  api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${admin}` } });
const windowOf = (from: string, to: string) =>
  `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;

const row = (hourMs: number, kind: 'push' | 'recommendation', counts: Partial<RollupRow>): RollupRow => ({
  hourMs,
  kind,
  modelVersion: kind === 'push' ? '' : 'v1',
  placement: kind === 'push' ? '' : 'home',
  experiment: '',
  arm: '',
  campaign: kind === 'push' ? 'flash' : '',
  ...zeroRollupCounts(),
  ...counts,
});

beforeAll(async () => {
  infra = await createTestInfra('reports-ranges');
  admin = (await createApiKey(infra.pool, { name: 'ops', scopes: ['admin', 'push:decide'] })).secret;
  api = await buildApiApp({
    // Counts reach Redis only when a route flushes them: no timer flushes them between two requests here.
    config: loadApiConfig({
      ...infra.env,
      AUTH_REQUIRED: 'true',
      LOG_LEVEL: 'silent',
      PUSH_STATS_FLUSH_MS: '60000',
    }),
    now: () => TEN_MS + 3 * HOUR_MS + 5 * 60_000,
  });
  // Decisions of campaign `flash` and the events that followed, at 10:00 and 11:00 UTC.
  for (const [hourMs, sends, clicks] of [
    [TEN_MS, 5, 1],
    [TEN_MS + HOUR_MS, 7, 2],
  ] as const) {
    await infra.redis.hincrby(
      infra.keys.pushStatsHour(hourMs / HOUR_MS),
      pushStatsField('push', 'ok', 'flash'),
      sends,
    );
    await addRollups(infra.pool, [
      row(hourMs, 'push', { events: clicks, clicks }),
      row(hourMs, 'recommendation', { events: 10, impressions: 10, clicks }),
    ]);
  }
});

afterAll(async () => {
  await api?.close();
  await infra.close();
});

describe('the push stats and the reports of one window', () => {
  it('count the same hours, for a window not on the hour, and say which hours they are', async () => {
    // 10:30 to 11:30 UTC, as a marketer at +05:30 writes 16:00 to 17:00.
    const window = windowOf('2026-11-11T16:00:00+05:30', '2026-11-11T17:00:00+05:30');
    const stats = (await get(`/v1/push/stats?${window}`)).json() as PushStatsReply;
    expect(stats).toMatchObject({ from: iso(TEN_MS), to: iso(TEN_MS + 2 * HOUR_MS), total: 12 });

    const push = await get(`/v1/reports/push?${window}`);
    expect(push.statusCode, push.body).toBe(200);
    const report = push.json() as PushReport;
    expect(report).toMatchObject({ from: stats.from, to: stats.to });
    expect(report.groups).toEqual([expect.objectContaining({ group: 'flash', sends: 12, clicks: 3 })]);

    const byHour = (await get(`/v1/reports/push?${window}&groupBy=hour`)).json() as PushReport;
    expect(byHour.groups.map((g) => [g.group, g.sends])).toEqual([
      [iso(TEN_MS), 5],
      [iso(TEN_MS + HOUR_MS), 7],
    ]);

    const recommendations = (
      await get(`/v1/reports/recommendations?${window}&groupBy=hour`)
    ).json() as RecommendationsReport;
    expect(recommendations).toMatchObject({ from: stats.from, to: stats.to });
    expect(recommendations.groups.map((g) => [g.group, g.impressions])).toEqual([
      [iso(TEN_MS), 10],
      [iso(TEN_MS + HOUR_MS), 10],
    ]);
  });

  it('count the hour a window within one hour falls in', async () => {
    const window = windowOf('2026-11-11T11:10:00Z', '2026-11-11T11:40:00Z');
    const stats = (await get(`/v1/push/stats?${window}`)).json() as PushStatsReply;
    expect(stats).toMatchObject({ from: iso(TEN_MS + HOUR_MS), total: 7 });
    const report = (await get(`/v1/reports/push?${window}`)).json() as PushReport;
    expect(report).toMatchObject({ from: stats.from, to: stats.to });
    expect(report.groups).toEqual([expect.objectContaining({ group: 'flash', sends: 7, clicks: 2 })]);
  });

  it('count a decision this api process answered a moment ago', async () => {
    const decision = await api.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      headers: { authorization: `Bearer ${admin}` },
      payload: { userId: 'shopper-1', channel: 'push', campaignId: 'just-now' },
    });
    expect(decision.json()).toMatchObject({ allowed: true });
    const window = windowOf('2026-11-11T13:00:00Z', '2026-11-11T14:00:00Z');
    const report = (await get(`/v1/reports/push?${window}`)).json() as PushReport;
    expect(report.groups).toEqual([expect.objectContaining({ group: 'just-now', sends: 1 })]);
    const stats = (await get(`/v1/push/stats?${window}`)).json() as PushStatsReply;
    expect(stats.byCampaign).toEqual({ 'just-now': 1 });
  });
});

describe('elevens report campaign', () => {
  it('counts the hours the window overlaps, as the api does', async () => {
    const { stdout } = await run(
      process.execPath,
      [CLI, 'report', 'campaign', '--from', '2026-11-11T10:30:00Z', '--to', '2026-11-11T11:30:00Z'],
      { env: { ...process.env, ...infra.env } },
    );
    expect(stdout).toContain(`# Campaign report ${iso(TEN_MS)} – ${iso(TEN_MS + 2 * HOUR_MS)}`);
    // flash: 3 events, 3 clicks and 12 sends (5 at 10:00, 7 at 11:00).
    expect(stdout).toMatch(/\| flash \| 3 \| {2}\| 0 \| 3 \|.*\| 12 \| {2}\| send \| send \|/);
  });
});
