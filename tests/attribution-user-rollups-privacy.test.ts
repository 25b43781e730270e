import {
  attributeNewEvents,
  connectClient,
  DEFAULT_ATTRIBUTION_WINDOW_MS,
  eraseUser,
  insertEvents,
  type PruneResult,
  pruneEvents,
  rebuildRollups,
  releaseClient,
  UserStore,
} from '@elevens/db';
import { encodeRecommendationAnswerId, type StoredEvent } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

// The per-user roll-ups hold user ids: they follow the retention of the events (elevens events prune) and their
// erasure, also when a worker step or a rebuild read the events before the prune or the erasure committed.

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
// Before any monthly partition of the test database: these events land in the default partition, so a prune
// drops no partition (a DROP would wait for the open step on its own lock, before the roll-ups are reached).
const BASE_MS = Date.parse('2020-03-10T20:00:00Z');
const STEP = { windowMs: DEFAULT_ATTRIBUTION_WINDOW_MS, safetyLagMs: 0, maxSpanMs: DAY_MS };
const ANSWER = encodeRecommendationAnswerId(
  { modelVersion: 'v1', placement: 'home', experiment: 'exp', arm: 'b', answeredAtMs: BASE_MS },
  'nonce1',
);

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('attribution-user-rollups-privacy');
});

afterAll(async () => {
  await infra?.close();
});

beforeEach(async () => {
  await infra.pool.query(
    'TRUNCATE events, event_ids, users, attribution_rollups, attribution_user_rollups, event_prune_cut_off',
  );
  await infra.pool.query('UPDATE attribution_state SET watermark = now()');
});

const impression = (eventId: string, userId: string, timestampMs: number): StoredEvent => ({
  eventId,
  userId,
  itemId: 'i1',
  type: 'impression',
  timestampMs,
  sessionId: null,
  recommendationId: ANSWER,
  quantity: null,
  price: null,
  properties: null,
});

const userRollups = async () =>
  (
    await infra.pool.query<{ user_id: string; hour: Date }>(
      'SELECT user_id, hour FROM attribution_user_rollups ORDER BY user_id, hour',
    )
  ).rows.map((r) => `${r.user_id} ${r.hour.toISOString()}`);

/** Whether some session of this database waits on a lock of `kind` in a statement matching `query`. */
async function waiting(kind: 'Lock' | 'advisory', query: string): Promise<boolean> {
  const { rows } = await infra.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE $2
       AND (wait_event_type = $1 OR wait_event = $1)`,
    [kind, query],
  );
  return rows[0]!.n > 0;
}

async function until(condition: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Settles like `promise`, and says whether it has. */
function tracked<T>(promise: Promise<T>) {
  const state = { settled: false, promise };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

const USER_ROLLUP_UPSERT = '%INSERT INTO attribution_user_rollups AS r%';

/**
 * Runs `write` (a worker step or a rebuild that adds user `stays`'s and `erased`'s per-user rows) held inside its
 * per-user upsert, after it read the events: another session's uncommitted row of `stays` makes the upsert wait.
 * Meanwhile `interfere` (an erasure, a prune) runs until it finishes or waits on the per-user roll-ups' lock; then
 * the upsert is released and both finish.
 */
async function whileWriteHeld(
  write: () => Promise<unknown>,
  interfere: () => Promise<unknown>,
): Promise<void> {
  const blocker = await connectClient(infra.pool);
  try {
    await blocker.query('BEGIN');
    await blocker.query(
      `INSERT INTO attribution_user_rollups (experiment, hour, arm, user_id) VALUES ('exp', $1, 'b', 'stays')`,
      [new Date(Math.floor(BASE_MS / HOUR_MS) * HOUR_MS)],
    );
    const writing = tracked(write());
    await until(async () => writing.settled || (await waiting('Lock', USER_ROLLUP_UPSERT)));
    expect(writing.settled).toBe(false);
    const interfering = tracked(interfere());
    await until(async () => interfering.settled || (await waiting('advisory', '%')));
    await blocker.query('ROLLBACK');
    await Promise.all([writing.promise, interfering.promise]);
  } finally {
    releaseClient(blocker);
  }
}

describe('per-user roll-ups and erasure', () => {
  it('a worker step that read the events before an erasure committed leaves none of the erased user', async () => {
    await insertEvents(infra.pool, [
      impression('e1', 'stays', BASE_MS),
      impression('e2', 'erased', BASE_MS + 60_000),
    ]);
    await whileWriteHeld(
      () => attributeNewEvents(infra.pool, STEP),
      () => eraseUser(infra.pool, 'erased', async () => undefined),
    );
    expect(await userRollups()).toEqual(['stays 2020-03-10T20:00:00.000Z']);
    const { rows } = await infra.pool.query('SELECT 1 FROM events WHERE user_id = $1', ['erased']);
    expect(rows).toEqual([]);
  });

  it('a rebuild that read the events before an erasure committed leaves none of the erased user', async () => {
    await insertEvents(infra.pool, [
      impression('e1', 'stays', BASE_MS),
      impression('e2', 'erased', BASE_MS + 60_000),
    ]);
    await infra.pool.query('UPDATE attribution_state SET watermark = now()');
    await whileWriteHeld(
      () => rebuildRollups(infra.pool, { fromMs: BASE_MS, toMs: BASE_MS + HOUR_MS, windowMs: STEP.windowMs }),
      () => eraseUser(infra.pool, 'erased', async () => undefined),
    );
    expect(await userRollups()).toEqual(['stays 2020-03-10T20:00:00.000Z']);
  });

  it('an erasure without a step under way deletes the user at once', async () => {
    await insertEvents(infra.pool, [
      impression('e1', 'stays', BASE_MS),
      impression('e2', 'erased', BASE_MS + 60_000),
    ]);
    await attributeNewEvents(infra.pool, STEP);
    expect(await userRollups()).toEqual([
      'erased 2020-03-10T20:00:00.000Z',
      'stays 2020-03-10T20:00:00.000Z',
    ]);
    await eraseUser(infra.pool, 'erased', async () => undefined);
    expect(await userRollups()).toEqual(['stays 2020-03-10T20:00:00.000Z']);
  });
});

describe('per-user roll-ups and a withdrawal of personalization consent', () => {
  const withdraw = (userId: string) =>
    new UserStore(infra.pool).upsert(userId, { consent: { personalization: false, push: true } });

  it("deletes the user's rows with their events detached (nothing links the events to them)", async () => {
    await insertEvents(infra.pool, [
      impression('e1', 'stays', BASE_MS),
      impression('e2', 'withdrawn', BASE_MS + 60_000),
    ]);
    await attributeNewEvents(infra.pool, STEP);
    expect(await userRollups()).toEqual([
      'stays 2020-03-10T20:00:00.000Z',
      'withdrawn 2020-03-10T20:00:00.000Z',
    ]);
    await withdraw('withdrawn');
    expect(await userRollups()).toEqual(['stays 2020-03-10T20:00:00.000Z']);
  });

  it('a worker step that read the events before the withdrawal committed leaves none of the user', async () => {
    await insertEvents(infra.pool, [
      impression('e1', 'stays', BASE_MS),
      impression('e2', 'withdrawn', BASE_MS + 60_000),
    ]);
    await whileWriteHeld(
      () => attributeNewEvents(infra.pool, STEP),
      () => withdraw('withdrawn'),
    );
    expect(await userRollups()).toEqual(['stays 2020-03-10T20:00:00.000Z']);
  });
});

describe('per-user roll-ups and retention (elevens events prune)', () => {
  const hour = (n: number) => new Date(BASE_MS + n * HOUR_MS);

  it('deletes the rows of the hours before the cut-off hour, keeping that hour, later ones and the hourly roll-ups', async () => {
    for (const [experiment, h, userId] of [
      ['exp', -30, 'u1'],
      ['exp', -1, 'u2'],
      ['exp', 0, 'u3'],
      ['exp', 5, 'u4'],
      ['other', -2, 'u5'],
      ['other', 1, 'u6'],
      ['', -3, 'u7'],
    ] as const)
      await infra.pool.query(
        `INSERT INTO attribution_user_rollups (experiment, hour, arm, user_id, impressions) VALUES ($1, $2, 'b', $3, 1)`,
        [experiment, hour(h), userId],
      );
    await infra.pool.query(
      `INSERT INTO attribution_rollups (hour, kind, experiment, arm, impressions)
       VALUES ($1, 'recommendation', 'exp', 'b', 1)`,
      [hour(-30)],
    );
    const result: PruneResult = await pruneEvents(infra.pool, BASE_MS + 20 * 60_000);
    expect(result.deletedUserRollups).toBe(4);
    expect(await userRollups()).toEqual([
      'u3 2020-03-10T20:00:00.000Z',
      'u4 2020-03-11T01:00:00.000Z',
      'u6 2020-03-10T21:00:00.000Z',
    ]);
    const { rows } = await infra.pool.query('SELECT impressions FROM attribution_rollups');
    expect(rows).toEqual([{ impressions: 1 }]);
  });

  it('a worker step that read old events before the prune deleted them leaves no row before the cut-off hour', async () => {
    await insertEvents(infra.pool, [
      impression('e1', 'stays', BASE_MS),
      impression('e2', 'old', BASE_MS + 60_000),
    ]);
    await whileWriteHeld(
      () => attributeNewEvents(infra.pool, STEP),
      () => pruneEvents(infra.pool, BASE_MS + HOUR_MS),
    );
    expect(await userRollups()).toEqual([]);
    expect((await infra.pool.query('SELECT 1 FROM events')).rows).toEqual([]);
  });
});
