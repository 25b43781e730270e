import { randomBytes } from 'node:crypto';
import {
  createPool,
  EventImport,
  ensureEventPartitionsAhead,
  ensureEventPartitionsFor,
  type Pool,
  pruneEvents,
} from '@elevens/db';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A database whose sessions run in America/Los_Angeles (ALTER DATABASE … SET timezone), west of UTC: its
// evenings are the next day, and at a month's end the next month, in UTC.
let infra: TestInfra;
let pacific: Pool;

beforeAll(async () => {
  infra = await createTestInfra('db-partitions-time-zone');
  const database = new URL(infra.databaseUrl).pathname.slice(1);
  await infra.pool.query(`ALTER DATABASE "${database}" SET timezone TO 'America/Los_Angeles'`);
  pacific = createPool(infra.databaseUrl, { max: 2 });
});

afterAll(async () => {
  await pacific?.end();
  await infra?.close();
});

/** Every monthly partition of `year` (all: '%') with its bounds as UTC ISO instants, read in a UTC session. */
async function boundsOf(year: number | '%', db: Pool = infra.pool): Promise<Record<string, string>> {
  const { rows } = await db.query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'events'::regclass AND c.relname LIKE $1 AND c.relname <> 'events_default'`,
    [`events_${year}_%`],
  );
  // Postgres writes a bound in the reading session's time zone, e.g. '2030-02-28 16:00:00-08'.
  const iso = (text: string) =>
    new Date(text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')).toISOString();
  return Object.fromEntries(
    rows.map(({ name, bound }) => {
      const [, from, to] = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(bound)!;
      return [name, `${iso(from!)} – ${iso(to!)}`];
    }),
  );
}

describe('event partitions in a database whose time zone is not UTC', () => {
  it('make each partition exactly its UTC month, so November, December and March all exist', async () => {
    await ensureEventPartitionsFor(pacific, [
      { timestampMs: Date.UTC(2030, 10, 15) },
      { timestampMs: Date.UTC(2030, 11, 15) },
    ]);
    await ensureEventPartitionsFor(pacific, [{ timestampMs: Date.UTC(2030, 2, 15) }]);
    expect(await boundsOf(2030)).toEqual({
      events_2030_03: '2030-03-01T00:00:00.000Z – 2030-04-01T00:00:00.000Z',
      events_2030_11: '2030-11-01T00:00:00.000Z – 2030-12-01T00:00:00.000Z',
      events_2030_12: '2030-12-01T00:00:00.000Z – 2031-01-01T00:00:00.000Z',
    });
  });

  it('create the current and next months ahead on the evening of April 30, when UTC is already in May', async () => {
    // 2031-04-30 20:00 in Los Angeles (PDT, UTC-7).
    await ensureEventPartitionsAhead(pacific, 2, Date.UTC(2031, 4, 1, 3));
    expect(Object.keys(await boundsOf(2031)).sort()).toEqual([
      'events_2031_05',
      'events_2031_06',
      'events_2031_07',
    ]);
  });

  it('are UTC months from the first migration on, in a new database whose default time zone is not UTC', async () => {
    const name = `elevens_test_migrate_la_${randomBytes(4).toString('hex')}`;
    const serverUrl = new URL(infra.databaseUrl);
    serverUrl.pathname = '/postgres';
    const url = new URL(infra.databaseUrl);
    url.pathname = `/${name}`;
    await ensureDatabase(url.toString());
    const fresh = createPool(url.toString(), { max: 1 });
    try {
      await fresh.query(`ALTER DATABASE "${name}" SET timezone TO 'America/Los_Angeles'`);
      await migrate(url.toString());
      await fresh.query("SET TIME ZONE 'UTC'");
      const bounds = Object.values(await boundsOf('%', fresh));
      expect(bounds).toHaveLength(3);
      for (const bound of bounds) {
        const [from, to] = bound.split(' – ').map((iso) => new Date(iso));
        expect([from!.getUTCDate(), from!.getUTCHours(), to!.getUTCDate(), to!.getUTCHours()]).toEqual([
          1, 0, 1, 0,
        ]);
        expect(
          (to!.getUTCFullYear() - from!.getUTCFullYear()) * 12 + to!.getUTCMonth() - from!.getUTCMonth(),
        ).toBe(1);
      }
    } finally {
      await fresh.end();
      await dropDatabase(serverUrl.toString(), name);
    }
  });

  it('import rows on both sides of a UTC month end into their own months', async () => {
    const row = (eventId: string, timestampMs: number) => ({
      eventId,
      userId: 'tz-user',
      itemId: 'i',
      type: 'view' as const,
      timestampMs,
      sessionId: null,
      categoryId: null,
    });
    const sink = new EventImport(pacific, { now: () => Date.UTC(2032, 11, 2) });
    await sink.write(row('tz-nov', Date.UTC(2032, 10, 30, 23, 30)));
    await sink.write(row('tz-dec', Date.UTC(2032, 11, 1, 0, 30)));
    expect(await sink.finish()).toMatchObject({ rows: 2, inserted: 2 });
    const { rows } = await infra.pool.query<{ event_id: string; part: string }>(
      `SELECT event_id, tableoid::regclass::text AS part FROM events WHERE user_id = 'tz-user' ORDER BY 1`,
    );
    expect(rows).toEqual([
      { event_id: 'tz-dec', part: 'events_2032_12' },
      { event_id: 'tz-nov', part: 'events_2032_11' },
    ]);
  });

  it('keep through a prune the events after its cut-off in a partition 0001 made an hour too long', async () => {
    // 0001 added the month in the session's time zone: made in Los Angeles, November ran to 01:00 UTC on
    // December 1 (its name still says November). Rebuilt here as such a database still holds it.
    await infra.pool.query(
      'CREATE TABLE events_2001_11 (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
    );
    await infra.pool.query(
      `ALTER TABLE events ATTACH PARTITION events_2001_11
       FOR VALUES FROM ('2001-11-01T00:00:00Z') TO ('2001-12-01T01:00:00Z')`,
    );
    await infra.pool.query(
      `INSERT INTO events (event_id, user_id, item_id, type, ts) VALUES
         ('legacy-nov', 'legacy', 'i', 'view', '2001-11-30T12:00:00Z'),
         ('legacy-dec', 'legacy', 'i', 'view', '2001-12-01T00:45:00Z')`,
    );
    const result = await pruneEvents(pacific, Date.UTC(2001, 11, 1, 0, 30));
    expect(result.droppedPartitions).not.toContain('events_2001_11');
    const { rows } = await infra.pool.query<{ event_id: string }>(
      `SELECT event_id FROM events WHERE user_id = 'legacy'`,
    );
    expect(rows).toEqual([{ event_id: 'legacy-dec' }]);
  });
});
