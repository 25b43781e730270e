import { createPool, ensureEventPartitionsFor, listEventPartitions, pruneEvents } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-partitions');
  app = await buildIngestApp({ config: loadIngestConfig({ ...infra.env, INGEST_PARTITIONS_AHEAD: '3' }) });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const DAY = 86_400_000;
const monthName = (ms: number) => `events_${new Date(ms).toISOString().slice(0, 7).replace('-', '_')}`;
const partitionOf = async (eventId: string) =>
  (
    await infra.pool.query<{ part: string }>(
      'SELECT tableoid::regclass::text AS part FROM events WHERE event_id = $1',
      [eventId],
    )
  ).rows[0]?.part;
/** Waits until a session of this database matches `condition` (SQL on pg_stat_activity), or until `done()`. */
async function waitFor(condition: string, done = () => false): Promise<void> {
  for (let waited = 0; waited < 500 && !done(); waited++) {
    const { rows } = await infra.pool.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND ${condition}`,
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!done()) throw new Error(`no session ${condition} after 5 s`);
}
/** For a test whose prune stands alone: the cut-off an earlier test's prune recorded would refuse its events. */
const forgetPruneCutOff = () => infra.pool.query('DELETE FROM event_prune_cut_off');

describe('event partitions', () => {
  it('creates the current and the next months at start-up', async () => {
    const names = (await listEventPartitions(infra.pool)).map((p) => p.name);
    const now = new Date();
    for (let ahead = 0; ahead <= 3; ahead++) {
      expect(names).toContain(monthName(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + ahead, 1)));
    }
  });

  it('puts months on demand into their own partition and stray 1980s timestamps into the default one', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: {
        events: [
          { eventId: 'y2017', userId: 'u', itemId: 'i', type: 'view', timestamp: '2017-12-03T10:00:00Z' },
          { eventId: 'y1985', userId: 'u', itemId: 'i', type: 'view', timestamp: '1985-06-01T00:00:00Z' },
        ],
      },
    });
    expect(response.json().accepted).toBe(2);
    expect(await partitionOf('y2017')).toBe('events_2017_12');
    expect(await partitionOf('y1985')).toBe('events_default');
  });

  it('prunes: drops whole old partitions, deletes older rows elsewhere and their idempotency keys', async () => {
    const nowMs = Date.now();
    const cutoffMs = nowMs - 180 * DAY;
    const event = (eventId: string, timestamp: number) => ({
      eventId,
      userId: 'p',
      itemId: 'i',
      type: 'view',
      timestamp,
    });
    await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: {
        events: [
          event('ancient', Date.UTC(2017, 10, 26)),
          event('just-before', cutoffMs - DAY),
          event('just-after', cutoffMs + DAY),
          event('recent', nowMs - DAY),
        ],
      },
    });

    const result = await pruneEvents(infra.pool, cutoffMs);
    expect(result.droppedPartitions).toEqual(expect.arrayContaining(['events_2017_11', 'events_2017_12']));
    expect(result.droppedPartitions).not.toContain(monthName(cutoffMs));
    const names = (await listEventPartitions(infra.pool)).map((p) => p.name);
    expect(names).not.toContain('events_2017_11');

    const { rows } = await infra.pool.query<{ event_id: string }>(
      'SELECT event_id FROM events ORDER BY event_id',
    );
    expect(rows.map((r) => r.event_id).sort()).toEqual(['just-after', 'recent']);
    const ids = await infra.pool.query<{ event_id: string }>(
      'SELECT event_id FROM event_ids ORDER BY event_id',
    );
    expect(ids.rows.map((r) => r.event_id).sort()).toEqual(['just-after', 'recent']);
    expect(result.deletedEventIds).toBe(4);

    // A client's retry of the batch: the pruned events are refused (their ids are forgotten, and a second copy
    // of each would be stored), the others count as duplicates, and an event new since is stored.
    const retry = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: {
        events: [
          event('ancient', Date.UTC(2017, 10, 26)),
          event('just-before', cutoffMs - DAY),
          event('just-after', cutoffMs + DAY),
          event('since', nowMs),
        ],
      },
    });
    expect(retry.statusCode).toBe(200);
    const cutOff = new Date(cutoffMs).toISOString();
    expect(retry.json()).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: [
        { index: 0, error: expect.stringContaining(cutOff) },
        { index: 1, error: expect.stringContaining(cutOff) },
      ],
    });
    const stored = await infra.pool.query<{ event_id: string }>('SELECT event_id FROM events');
    expect(stored.rows.map((r) => r.event_id).sort()).toEqual(['just-after', 'recent', 'since']);
    // A request holding only pruned events stores nothing, as one holding no valid event.
    const onlyPruned = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events: [event('just-before', cutoffMs - DAY)] },
    });
    expect(onlyPruned.statusCode).toBe(400);
    expect(onlyPruned.json()).toMatchObject({
      error: 'bad_request',
      details: { rejected: [{ index: 0, error: expect.stringContaining(cutOff) }] },
    });
    expect(await partitionOf('just-before')).toBeUndefined();
  });

  it('takes events while a prune forgets old idempotency keys', async () => {
    await forgetPruneCutOff();
    const old = Date.UTC(2016, 0, 15);
    const post = (eventId: string, timestamp: number) =>
      app.inject({
        method: 'POST',
        url: '/v1/events',
        payload: { events: [{ eventId, userId: 'p', itemId: 'i', type: 'view', timestamp }] },
      });
    expect((await post('old-key', old)).json().accepted).toBe(1);
    // Another session holds an old key's row, so the prune's deletion of the keys waits there.
    const holder = await infra.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM event_ids WHERE event_id = 'old-key' FOR UPDATE");
      const pruning = pruneEvents(infra.pool, Date.UTC(2016, 6, 1));
      for (let waited = 0; waited < 200; waited++) {
        const { rows } = await infra.pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'DELETE FROM event_ids%' AND wait_event_type = 'Lock'",
        );
        if (rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const fresh = await Promise.race([
        post('while-pruning', Date.now()).then((response) => response.json().accepted),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3_000)),
      ]);
      expect(fresh).toBe(1);
      await holder.query('COMMIT');
      expect((await pruning).droppedPartitions).toContain('events_2016_01');
    } finally {
      holder.release();
    }
    // The resent old event stays a duplicate until its key is forgotten; then it is older than its partition.
    expect(await partitionOf('old-key')).toBeUndefined();
  });

  it('takes events while a prune waits to drop a partition a long read of the events holds', async () => {
    await forgetPruneCutOff();
    const old = Date.UTC(2014, 0, 15);
    const post = (eventId: string, timestamp: number) =>
      app.inject({
        method: 'POST',
        url: '/v1/events',
        payload: { events: [{ eventId, userId: 'r', itemId: 'i', type: 'view', timestamp }] },
      });
    expect((await post('read-old', old)).json().accepted).toBe(1);
    // A build streaming the events out holds them for its whole read; dropping a partition must wait for it.
    const reader = await infra.pool.connect();
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM events');
      const pruning = pruneEvents(infra.pool, Date.UTC(2014, 6, 1), { dropWaitMs: 1_500 });
      let settled = false;
      const settle = () => {
        settled = true;
      };
      pruning.then(settle, settle);
      // Events keep coming while the prune tries to drop: none waits for the reader.
      for (let n = 0; !settled; n++) {
        const accepted = await Promise.race([
          post(`while-reading-${n}`, Date.now()).then((response) => response.json().accepted),
          new Promise((resolve) => setTimeout(() => resolve('still waiting after 1 s'), 1_000)),
        ]);
        expect(accepted).toBe(1);
      }
      // Given up after its wait: the partition's rows are deleted instead, and the next prune drops it.
      const result = await pruning;
      expect(result.droppedPartitions).toEqual([]);
      expect(result.emptiedPartitions).toEqual(['events_2014_01']);
      expect(await partitionOf('read-old')).toBeUndefined();
    } finally {
      await reader.query('COMMIT');
      reader.release();
    }
    expect((await pruneEvents(infra.pool, Date.UTC(2014, 6, 1))).droppedPartitions).toEqual([
      'events_2014_01',
    ]);
  });

  it('prunes the old events of a write under way as its cut-off is recorded', async () => {
    await forgetPruneCutOff();
    const old = Date.UTC(2013, 0, 15);
    // Another session holds the event's id unclaimed, so the write waits there, its cut-off read before the prune.
    const holder = await infra.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('INSERT INTO event_ids (event_id, ts) VALUES ($1, $2)', [
        'in-flight',
        new Date(old),
      ]);
      const posting = app
        .inject({
          method: 'POST',
          url: '/v1/events',
          payload: {
            events: [{ eventId: 'in-flight', userId: 'f', itemId: 'i', type: 'view', timestamp: old }],
          },
        })
        .then((response) => response.json().accepted);
      await waitFor("wait_event = 'transactionid' AND query LIKE '%input AS (%'");
      let settled = false;
      const pruning = pruneEvents(infra.pool, Date.UTC(2013, 6, 1), { dropWaitMs: 0 }).finally(() => {
        settled = true;
      });
      // The prune waits for the write (or, recording without waiting, is done) before the write may go on.
      await waitFor("state = 'active' AND query = 'LOCK TABLE event_ids IN SHARE MODE'", () => settled);
      await holder.query('ROLLBACK');
      expect(await posting).toBe(1);
      await pruning;
    } finally {
      holder.release();
    }
    expect(await partitionOf('in-flight')).toBeUndefined();
  });

  it('lets several processes create the same new months at once', async () => {
    // One connection each, like separate ingest processes: each asks for months none of them has made yet.
    const pools = Array.from({ length: 6 }, () => createPool(infra.databaseUrl, { max: 1 }));
    const months = [Date.UTC(2015, 2, 9), Date.UTC(2015, 3, 9), Date.UTC(2015, 4, 9)];
    try {
      for (const monthMs of months) {
        await Promise.all(pools.map((pool) => ensureEventPartitionsFor(pool, [{ timestampMs: monthMs }])));
      }
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
    const names = (await listEventPartitions(infra.pool)).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['events_2015_03', 'events_2015_04', 'events_2015_05']));
  });
});
