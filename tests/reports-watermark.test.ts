import { setTimeout as sleep } from 'node:timers/promises';
import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { addRollups, type RollupRow, zeroRollupCounts } from '@elevens/db';
import type { RecommendationsReport } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOUR_MS = 3_600_000;
const TEN_MS = Date.parse('2026-11-11T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

let infra: TestInfra;
let api: ApiApp;

const impressions = (count: number): RollupRow => ({
  hourMs: TEN_MS,
  kind: 'recommendation',
  modelVersion: 'v1',
  placement: 'home',
  experiment: '',
  arm: '',
  campaign: '',
  ...zeroRollupCounts(),
  events: count,
  impressions: count,
});
const setWatermark = (ms: number) =>
  infra.pool.query('UPDATE attribution_state SET watermark = $1', [new Date(ms)]);

beforeAll(async () => {
  infra = await createTestInfra('reports-watermark');
  api = await buildApiApp({
    config: loadApiConfig({ ...infra.env, LOG_LEVEL: 'silent' }),
    now: () => TEN_MS + 2 * HOUR_MS,
  });
  await addRollups(infra.pool, [impressions(5)]);
  await setWatermark(TEN_MS + 30 * 60_000);
});

afterAll(async () => {
  await api?.close();
  await infra?.close();
});

describe('a report read while the roll-up worker commits a step', () => {
  it('never claims counted until a time whose events it does not hold', async () => {
    const store = api.rollups;
    const readGroups = store.groups.bind(store);
    const readWatermark = store.watermark.bind(store);
    let groupsRead!: () => void;
    const groupsDone = new Promise<void>((resolve) => {
      groupsRead = resolve;
    });
    // The worker's next step commits right after the report read the groups: three more impressions, counted
    // until 10:45.
    store.groups = async (query) => {
      const groups = await readGroups(query);
      await addRollups(infra.pool, [impressions(3)]);
      await setWatermark(TEN_MS + 45 * 60_000);
      groupsRead();
      return groups;
    };
    // A watermark read that would start beside the groups' lands after that step.
    store.watermark = async () => {
      await Promise.race([groupsDone, sleep(300)]);
      return readWatermark();
    };
    try {
      const response = await api.inject({
        method: 'GET',
        url: `/v1/reports/recommendations?from=${iso(TEN_MS)}&to=${iso(TEN_MS + HOUR_MS)}`,
      });
      expect(response.statusCode, response.body).toBe(200);
      const report = response.json() as RecommendationsReport;
      const counted = report.groups.reduce((sum, group) => sum + group.impressions, 0);
      // The counts hold every event before countedUntil: 5 until 10:30, 8 until 10:45.
      expect({ countedUntil: report.countedUntil, counted }).toEqual({
        countedUntil: iso(TEN_MS + 30 * 60_000),
        counted: 5,
      });
    } finally {
      store.groups = readGroups;
      store.watermark = readWatermark;
    }
  });
});
