import {
  awaitUserRollupWriters,
  connectClient,
  pruneEvents,
  readRollups,
  rebuildRollups,
  releaseClient,
} from '@elevens/db';
import { encodeRecommendationAnswerId } from '@elevens/domain';
import {
  type AttributedEvent,
  createTestInfra,
  storeAttributedEvents,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

// `rebuildRollups` itself refuses the hours a prune left partial (the cut-off's hour and the attribution window
// after it), whoever calls it, and a prune recording its cut-off waits for a rebuild under way.

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const HOUR = Date.parse('2026-06-01T10:00:00Z');
const CUT_OFF = HOUR + 30 * 60_000;
/** 10:30 plus the one-day window, on the hour. */
const FIRST_WHOLE_HOUR = Date.parse('2026-06-02T11:00:00Z');
const ANSWER = encodeRecommendationAnswerId({
  modelVersion: 'v1',
  placement: 'home',
  experiment: 'guard',
  arm: 'a',
  answeredAtMs: HOUR,
});

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('db-rollups-rebuild-guard');
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

/** A click at 10:10 that the prune at 10:30 removes, one at 10:40 it keeps, and a purchase attributed to the first. */
const CUT_HOUR_EVENTS = [
  { id: 'pruned-click', user: 'u1', type: 'click', atMs: HOUR + 10 * 60_000, answer: ANSWER },
  { id: 'kept-click', user: 'u2', type: 'click', atMs: HOUR + 40 * 60_000, answer: ANSWER },
  { id: 'purchase', user: 'u1', type: 'purchase', atMs: HOUR + 2 * HOUR_MS, answer: null },
  { id: 'next-day', user: 'u3', type: 'click', atMs: HOUR + 30 * HOUR_MS, answer: ANSWER },
] as const;

/** Clicks and purchases attributed to the experiment's arm, per hour from HOUR (hours with none left out). */
async function armCounts(): Promise<Record<string, string>> {
  const rows = (await readRollups(infra.pool, HOUR - 2 * DAY_MS, HOUR + 3 * DAY_MS)).filter(
    (r) => r.arm === 'a',
  );
  return Object.fromEntries(
    rows.map((r) => [`${(r.hourMs - HOUR) / HOUR_MS}h`, `${r.clicks} clicks ${r.purchases} purchases`]),
  );
}

const WHOLE = { '0h': '2 clicks 0 purchases', '2h': '0 clicks 1 purchases', '30h': '1 clicks 0 purchases' };

describe('rebuildRollups after a prune', () => {
  it('refuses a start before the first whole hour past the cut-off and its window, changing nothing', async () => {
    await store([...CUT_HOUR_EVENTS]);
    await rebuildRollups(infra.pool, { windowMs: DAY_MS });
    await pruneEvents(infra.pool, CUT_OFF);

    for (const fromMs of [HOUR, FIRST_WHOLE_HOUR - 1]) {
      await expect(rebuildRollups(infra.pool, { fromMs, windowMs: DAY_MS })).rejects.toMatchObject({
        name: 'RollupsPrunedHours',
        cutOffMs: CUT_OFF,
        firstWholeHourMs: FIRST_WHOLE_HOUR,
        reachedBy: 'from',
      });
    }
    expect(await armCounts()).toEqual(WHOLE);
    // With no start given, it starts at that hour; an end before it leaves nothing to rebuild.
    const byDefault = await rebuildRollups(infra.pool, { windowMs: DAY_MS });
    expect({ fromMs: byDefault.fromMs, toMs: byDefault.toMs }).toEqual({
      fromMs: FIRST_WHOLE_HOUR,
      toMs: FIRST_WHOLE_HOUR + 6 * HOUR_MS,
    });
    await expect(
      rebuildRollups(infra.pool, { toMs: FIRST_WHOLE_HOUR, windowMs: DAY_MS }),
    ).rejects.toMatchObject({ name: 'RollupsPrunedHours', reachedBy: 'to' });
    expect(await armCounts()).toEqual(WHOLE);
  });

  it('makes a prune starting during a rebuild wait for it, so the rebuild counts the events whole', async () => {
    // A click a day before: the rebuild counts its day first and then waits for the per-user roll-ups' lock,
    // held below, before it reads the cut hour's day.
    const early = {
      id: 'early',
      user: 'u0',
      type: 'click',
      atMs: HOUR - 25 * HOUR_MS,
      answer: ANSWER,
    } as const;
    await store([early, ...CUT_HOUR_EVENTS]);
    const blocker = await connectClient(infra.pool);
    try {
      await blocker.query('BEGIN');
      await awaitUserRollupWriters(blocker);
      const blockerPid = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
        .pid;
      const rebuilt = rebuildRollups(infra.pool, { windowMs: DAY_MS });
      const rebuildPid = await vi.waitFor(
        async () => {
          const { rows } = await infra.pool.query<{ pid: number }>(
            'SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
            [blockerPid],
          );
          if (rows.length === 0) throw new Error('the rebuild is not waiting yet');
          return rows[0]!.pid;
        },
        { timeout: 10_000, interval: 20 },
      );
      const pruned = pruneEvents(infra.pool, CUT_OFF, { dropWaitMs: 0 });
      await vi.waitFor(
        async () => {
          // Not its tries to drop the old partitions, which give up and leave their rows to the deletion.
          const { rows } = await infra.pool.query(
            `SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) AND query NOT LIKE 'DROP %'`,
            [rebuildPid],
          );
          if (rows.length === 0) throw new Error('the prune is not waiting yet');
        },
        { timeout: 10_000, interval: 20 },
      );
      await blocker.query('COMMIT');
      await Promise.all([rebuilt, pruned]);
    } finally {
      releaseClient(blocker);
    }
    expect(await armCounts()).toEqual({ '-25h': '1 clicks 0 purchases', ...WHOLE });
  });

  it('reports an empty window, not a backwards one, when no event is at or after its start', async () => {
    const fromMs = Date.parse('2026-02-10T00:00:00Z');
    const report = await rebuildRollups(infra.pool, { fromMs, windowMs: DAY_MS });
    expect(report).toMatchObject({ fromMs, toMs: fromMs, events: 0, rows: 0 });

    await store([...CUT_HOUR_EVENTS]);
    const afterNewest = await rebuildRollups(infra.pool, { fromMs: HOUR + 3 * DAY_MS, windowMs: DAY_MS });
    expect(afterNewest).toMatchObject({ fromMs: HOUR + 3 * DAY_MS, toMs: HOUR + 3 * DAY_MS, events: 0 });
  });
});
