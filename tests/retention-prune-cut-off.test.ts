import { pruneEvents, readRollups, rebuildRollups } from '@elevens/db';
import { encodeRecommendationAnswerId } from '@elevens/domain';
import {
  type AttributedEvent,
  createTestInfra,
  storeAttributedEvents,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runElevens } from './support/service-processes';

// A prune cuts the events off at an instant, mostly within an hour: that hour keeps only its later events, and
// the clicks, carts and purchases of the next ATTRIBUTION_WINDOW lose the touches they were attributed to. Their
// roll-ups, counted before the prune, are whole; a rebuild must not replace them with what is left.

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const HOUR = Date.parse('2026-06-01T10:00:00Z');
const ANSWER = encodeRecommendationAnswerId({
  modelVersion: 'v1',
  placement: 'home',
  experiment: 'cut',
  arm: 'a',
  answeredAtMs: HOUR,
});

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('retention-prune-cut-off');
});

afterAll(async () => {
  await infra?.close();
});

beforeEach(async () => {
  await infra.pool.query(
    'TRUNCATE events, event_ids, attribution_rollups, attribution_user_rollups, event_prune_cut_off',
  );
});

const store = (events: readonly AttributedEvent[]) => storeAttributedEvents(infra.pool, events);

/** Clicks and purchases attributed to the experiment's arm, per hour from HOUR (hours with none left out). */
async function armCounts(): Promise<Record<string, string>> {
  const rows = (await readRollups(infra.pool, HOUR - DAY_MS, HOUR + 3 * DAY_MS)).filter((r) => r.arm === 'a');
  return Object.fromEntries(
    rows.map((r) => [`+${(r.hourMs - HOUR) / HOUR_MS}h`, `${r.clicks} clicks ${r.purchases} purchases`]),
  );
}

const rebuild = async (...flags: string[]) => {
  const { code, stdout, stderr } = await runElevens(['rollups', 'rebuild', ...flags], infra.env);
  return { code, stdout, stderr: stderr.replace(/^elevens: no compiled CLI.*\n/m, '').trim() };
};

describe('elevens rollups rebuild after a prune that cut an hour in two', () => {
  it('refuses the cut-off hour and the attribution window after it, and starts after them by default', async () => {
    await store([
      { id: 'pruned-click', user: 'u1', type: 'click', atMs: HOUR + 10 * 60_000, answer: ANSWER },
      { id: 'kept-click', user: 'u2', type: 'click', atMs: HOUR + 40 * 60_000, answer: ANSWER },
      // Attributed by last touch to the pruned click.
      { id: 'purchase', user: 'u1', type: 'purchase', atMs: HOUR + 2 * HOUR_MS, answer: null },
      { id: 'next-day', user: 'u3', type: 'click', atMs: HOUR + 30 * HOUR_MS, answer: ANSWER },
    ]);
    await rebuildRollups(infra.pool, { windowMs: DAY_MS });
    const whole = {
      '+0h': '2 clicks 0 purchases',
      '+2h': '0 clicks 1 purchases',
      '+30h': '1 clicks 0 purchases',
    };
    expect(await armCounts()).toEqual(whole);

    await pruneEvents(infra.pool, HOUR + 30 * 60_000);

    // 10:30 plus the 24 h window, on the hour.
    const refusal =
      'events before 2026-06-01T10:30:00.000Z were pruned: the roll-ups of the hours before ' +
      "2026-06-02T11:00:00.000Z (the cut-off's hour, and the 1d attribution window after the cut-off, whose " +
      'last touches are gone) cannot be recomputed whole from the events left; nothing rebuilt: rebuild from ' +
      '2026-06-02T11:00:00.000Z or later, or leave --from out';
    for (const from of ['2026-06-01T10:00:00Z', '2026-06-02T10:59:59Z']) {
      const refused = await rebuild('--from', from);
      expect(refused.code, refused.stdout + refused.stderr).toBe(1);
      expect(refused.stderr.split('\n')).toEqual([refusal]);
    }
    expect(await armCounts()).toEqual(whole);

    const byDefault = await rebuild();
    expect(byDefault.code, byDefault.stdout + byDefault.stderr).toBe(0);
    expect(byDefault.stdout).toContain(
      'rebuilt the roll-ups of 2026-06-02T11:00:00.000Z – 2026-06-02T17:00:00.000Z',
    );
    expect(await armCounts()).toEqual(whole);

    // A shorter window reaches back less far: the purchase's hour is then past it, and counted under that
    // window (its click is more than an hour before it) the purchase is attributed to no answer.
    const narrow = await rebuild('--from', '2026-06-01T12:00:00Z', '--window', '1h');
    expect(narrow.code, narrow.stdout + narrow.stderr).toBe(0);
    expect(await armCounts()).toEqual({ '+0h': whole['+0h'], '+30h': whole['+30h'] });
  });

  it('says nothing was rebuilt when no event is stored from --from on, not a backwards window', async () => {
    const empty = await rebuild('--from', '2026-02-10T00:00:00Z');
    expect(empty.code, empty.stdout + empty.stderr).toBe(0);
    expect(empty.stdout.trim().split('\n')).toEqual([
      'nothing rebuilt: no event is stored from 2026-02-10T00:00:00.000Z on',
    ]);
  });

  it('keeps the latest cut-off of every prune run, and refuses what it reaches into', async () => {
    const prune = (olderThan: string) =>
      runElevens(['events', 'prune', '--older-than', olderThan], infra.env);
    const startedMs = Date.now();
    expect((await prune('200d')).code).toBe(0);
    expect((await prune('400d')).code).toBe(0);

    const refused = await rebuild('--from', new Date(startedMs - 300 * DAY_MS).toISOString());
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    const cutOff = /^events before (\S+) were pruned/.exec(refused.stderr)?.[1];
    expect(Date.parse(cutOff ?? '') - (startedMs - 200 * DAY_MS)).toBeGreaterThanOrEqual(0);
    expect(Date.parse(cutOff ?? '') - (startedMs - 200 * DAY_MS)).toBeLessThan(60_000);
  });
});
