import { EVENT_TYPES, type StoredEvent } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPool,
  EventImport,
  type InsertEventsResult,
  insertEventGroups,
  numericParts,
  type Pool,
  pruneEvents,
  withTransaction,
} from '../src';

let infra: TestInfra;

/** A view of user u, item i, on 2026-11-11, with nothing optional. */
const event = (eventId: string): StoredEvent => ({
  eventId,
  userId: 'u',
  itemId: 'i',
  type: 'view',
  timestampMs: Date.UTC(2026, 10, 11),
  sessionId: null,
  recommendationId: null,
  quantity: null,
  price: null,
  properties: null,
});

beforeAll(async () => {
  infra = await createTestInfra('db-event-write');
});

afterAll(async () => {
  await infra.close();
});

/** The exact decimal value of a number's shortest text, as an integer count of 10^-SCALE. */
const SCALE = 400;
function exactDecimal(text: string): bigint {
  const [mantissa, exponent = '0'] = text.split('e');
  const [whole, fraction = ''] = mantissa!.split('.');
  return BigInt(whole! + fraction) * 10n ** BigInt(SCALE + Number(exponent) - fraction.length);
}

describe('numericParts', () => {
  it('holds the exact decimal value of the shortest text, without leading or trailing zero digits', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        const { sign, weight, scale, digits } = numericParts(value);
        const magnitude = digits.reduce(
          (sum, digit, i) => sum + BigInt(digit) * 10n ** BigInt(SCALE + 4 * (weight - i)),
          0n,
        );
        expect(magnitude).toBe(exactDecimal(String(Math.abs(value))));
        expect(sign).toBe(value < 0 && magnitude !== 0n ? 0x4000 : 0);
        expect(digits.every((d) => Number.isInteger(d) && d >= 0 && d < 10_000)).toBe(true);
        if (digits.length > 0) expect([digits[0], digits.at(-1)]).not.toContain(0);
        const [mantissa, exponent = '0'] = String(Math.abs(value)).split('e');
        const decimals = mantissa!.split('.')[1]?.length ?? 0;
        expect(scale).toBe(Math.max(0, decimals - Number(exponent)));
      }),
      { numRuns: 2_000 },
    );
  });
});

const idArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((s) => !s.includes('\0'));
const optionalIdArb = fc.option(idArb, { nil: null });

/** Events whose ids come from a small pool, so groups repeat ids within and across them. */
const groupsArb = fc.array(
  fc.array(
    fc.record({
      id: fc.integer({ min: 0, max: 30 }),
      idSuffix: fc.constantFrom('', '\uD800', '\uDC00', '\uFFFD', '\t\\"\n'),
      userId: idArb,
      itemId: idArb,
      type: fc.constantFrom(...EVENT_TYPES),
      timestampMs: fc.integer({ min: Date.UTC(2026, 9, 1), max: Date.UTC(2026, 11, 31) }),
      sessionId: optionalIdArb,
      recommendationId: optionalIdArb,
      quantity: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: null }),
      price: fc.option(
        fc.oneof(
          fc.double({ min: 0, max: 999_999_999_999.99, noNaN: true }),
          fc.integer({ min: 0, max: 99_999_999 }).map((cents) => cents / 100),
          fc.constantFrom(0, 1.005, 0.125, 19.999, 5e-7, 999_999_999_999.99),
        ),
        { nil: null },
      ),
      properties: fc.option(
        fc.dictionary(
          fc.string({ maxLength: 6 }),
          fc.oneof(
            fc.string({ maxLength: 6 }),
            fc.constant('\t\\"\n€😀'),
            fc.integer(),
            fc.double({ noNaN: true, noDefaultInfinity: true }),
            fc.boolean(),
            fc.constant(null),
          ),
          { maxKeys: 3 },
        ),
        { nil: null },
      ),
    }),
    { minLength: 1, maxLength: 8 },
  ),
  { minLength: 1, maxLength: 4 },
);

type Groups = typeof groupsArb extends fc.Arbitrary<infer T> ? T : never;

function toEvents(groups: Groups, prefix: string): StoredEvent[][] {
  return groups.map((group) =>
    group.map(({ id, idSuffix, ...e }) => ({
      ...e,
      eventId: `${prefix}${id}${idSuffix}`,
      properties: e.properties as Record<string, unknown> | null,
    })),
  );
}

/** What a path stored: every column as Postgres prints it, keyed by the id without its prefix. */
async function storedRows(prefix: string) {
  const { rows } = await infra.pool.query<{
    id: string;
    row: string;
    claimed: boolean;
    before_cut_off: boolean;
  }>(
    `SELECT substr(e.event_id, length($1) + 1) AS id,
            concat_ws('|', e.user_id, e.item_id, e.type, e.ts, e.session_id, e.recommendation_id, e.quantity,
                      e.price, e.properties) AS row,
            -- the key's time is the event's plus its write's mark (under a second)
            i.ts > e.ts AND i.ts < e.ts + interval '1 second' AS claimed,
            e.ts < $2 AS before_cut_off
     FROM events e JOIN event_ids i USING (event_id) WHERE e.event_id LIKE $1 || '%' ORDER BY 1`,
    [prefix, new Date(PRUNE_CUT_OFF)],
  );
  return rows;
}

const summary = (results: InsertEventsResult[], prefix: string) =>
  results.map((r) => ({
    inserted: r.inserted.map((e) => ({ ...e, eventId: e.eventId.slice(prefix.length) })),
    duplicates: r.duplicates,
    beforePruneCutOff: r.beforePruneCutOff,
  }));

/** Within the events' times (`groupsArb`), so a group holds events on both sides of it. */
const PRUNE_CUT_OFF = Date.UTC(2026, 9, 15);

/** An id as stored: a lone surrogate becomes U+FFFD. */
const storedId = (id: string) =>
  id.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

/**
 * Per group of one write, the events refused as older than the prune cut-off: each occurrence of an id whose
 * first occurrence in the write is (an id is decided once per write, as for duplicates).
 */
function refusedPositions(groups: StoredEvent[][]) {
  const refused = new Set<string>();
  const decided = new Set<string>();
  for (const e of groups.flat()) {
    const id = storedId(e.eventId);
    if (decided.has(id)) continue;
    decided.add(id);
    if (e.timestampMs < PRUNE_CUT_OFF) refused.add(id);
  }
  return groups.map((group) =>
    group.flatMap((e, index) =>
      refused.has(storedId(e.eventId)) ? [{ index, cutOffMs: PRUNE_CUT_OFF }] : [],
    ),
  );
}

describe('insertEventGroups: binary COPY against the statement', () => {
  let run = 0;

  beforeAll(async () => {
    await pruneEvents(infra.pool, PRUNE_CUT_OFF);
  });

  it('stores the same rows and reports the same results, also when ids were stored before or precede the prune cut-off', async () => {
    await fc.assert(
      fc.asyncProperty(groupsArb, groupsArb, async (first, second) => {
        run++;
        const byPath = [];
        for (const copyFromEvents of [1, Number.POSITIVE_INFINITY]) {
          const prefix = `p${run}-${copyFromEvents}-`;
          const results = [];
          for (const call of [toEvents(first, prefix), toEvents(second, prefix)]) {
            const written = await insertEventGroups(infra.pool, call, { copyFromEvents });
            expect(written.map((r) => r.beforePruneCutOff)).toEqual(refusedPositions(call));
            expect(written.map((r) => r.inserted.length + r.duplicates + r.beforePruneCutOff.length)).toEqual(
              call.map((group) => group.length),
            );
            results.push(...written);
          }
          const rows = await storedRows(prefix);
          expect(rows.filter((r) => r.before_cut_off)).toEqual([]);
          byPath.push({ results: summary(results, prefix), rows });
        }
        expect(byPath[0]).toEqual(byPath[1]);
      }),
      { numRuns: 60 },
    );
  });
});

describe('insertEventGroups for users without personalization consent', () => {
  const event = (eventId: string, userId: string): StoredEvent => ({
    eventId,
    userId,
    itemId: 'i',
    type: 'view',
    timestampMs: Date.UTC(2026, 10, 11),
    sessionId: 's',
    recommendationId: 'r',
    quantity: null,
    price: null,
    properties: { k: 1 },
  });

  it('stores their events anonymously on both paths and answers the stored user ids, also on a resend', async () => {
    await infra.pool.query(
      "INSERT INTO users (user_id, consent_personalization) VALUES ('withheld', false), ('agreed', true)",
    );
    for (const copyFromEvents of [1, Number.POSITIVE_INFINITY]) {
      const id = (n: number) => `consent-${copyFromEvents}-${n}`;
      const group = [event(id(1), 'withheld'), event(id(2), 'agreed'), event(id(3), 'withheld')];
      const [first] = await insertEventGroups(infra.pool, [group], { copyFromEvents });
      // The resend of id 3 goes the ON CONFLICT way, with a new id that anonymises too.
      const [second] = await insertEventGroups(
        infra.pool,
        [[event(id(3), 'withheld'), event(id(4), 'withheld')]],
        {
          copyFromEvents,
        },
      );
      const { rows } = await infra.pool.query<{
        event_id: string;
        user_id: string;
        session_id: string | null;
      }>("SELECT event_id, user_id, session_id FROM events WHERE event_id LIKE $1 || '%' ORDER BY event_id", [
        `consent-${copyFromEvents}-`,
      ]);
      const answered = [...first!.inserted, ...second!.inserted];
      expect(second!.duplicates).toBe(1);
      expect(answered.map((e) => [e.eventId, e.userId, e.sessionId])).toEqual(
        rows.map((r) => [r.event_id, r.user_id, r.session_id]),
      );
      expect(answered.map((e) => e.anonymous === true)).toEqual([true, false, true, true]);
      for (const e of answered.filter((e) => e.anonymous)) {
        expect(e.userId).toMatch(/^~anon:[0-9a-f-]{36}$/);
        expect([e.sessionId, e.recommendationId, e.properties]).toEqual([null, null, null]);
      }
      expect(new Set(rows.map((r) => r.user_id)).size).toBe(4);
    }
  });
});

describe('insertEventGroups by binary COPY from two processes at once', () => {
  let other: Pool;

  beforeAll(() => {
    other = createPool(infra.databaseUrl, { max: 4 });
  });

  afterAll(async () => {
    await other.end();
  });

  it('stores each id once and counts every other copy as a duplicate', async () => {
    const ids = Array.from({ length: 600 }, (_, n) => `race-${n}`);
    // Each writer sends overlapping windows of the ids, in opposite orders, eight groups at a time.
    const writes = [infra.pool, other].flatMap((pool, p) =>
      Array.from({ length: 8 }, (_, w) => {
        const window = ids.slice(w * 50, w * 50 + 250).map(event);
        return insertEventGroups(pool, [p === 0 ? window : window.reverse()], { copyFromEvents: 1 });
      }),
    );
    const results = (await Promise.all(writes)).flat();
    const sent = results.reduce((sum, r) => sum + r.inserted.length + r.duplicates, 0);
    const inserted = results.flatMap((r) => r.inserted.map((e) => e.eventId));
    expect(new Set(inserted).size).toBe(inserted.length);
    expect(sent - inserted.length).toBe(results.reduce((sum, r) => sum + r.duplicates, 0));
    const { rows } = await infra.pool.query(
      "SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM events WHERE event_id LIKE 'race-%'",
    );
    expect(rows[0]).toEqual({ n: ids.length, ids: ids.length });
    expect(inserted).toHaveLength(ids.length);
  });
});

describe('a connection Postgres ends during a write (a restart)', () => {
  /**
   * Runs `write` on a pool of its own while another session locks `event_ids`, ends the write's backend as a
   * restart does (pg_terminate_backend) once it waits there, and answers how the write settled, the errors that
   * reached no listener (which would end an ingest process) and the clients still checked out.
   */
  async function terminatedMidWrite(applicationName: string, write: (pool: Pool) => Promise<unknown>) {
    const pool = createPool(infra.databaseUrl, { max: 2, applicationName });
    const uncaught: unknown[] = [];
    const runnerListeners = process.rawListeners('uncaughtException') as NodeJS.UncaughtExceptionListener[];
    process.removeAllListeners('uncaughtException');
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    const locker = await infra.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE event_ids IN ACCESS EXCLUSIVE MODE');
      const settled = write(pool).then(
        () => 'resolved',
        () => 'rejected',
      );
      let terminated = 0;
      for (let attempt = 0; attempt < 200 && terminated === 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        const { rows } = await infra.pool.query(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
           WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [applicationName],
        );
        terminated = rows[0].n;
      }
      expect(terminated).toBe(1);
      const outcome = await settled;
      // The socket's end follows the FATAL message; give it a few turns to arrive.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { outcome, uncaught, checkedOut: pool.totalCount - pool.idleCount };
    } finally {
      process.off('uncaughtException', record);
      for (const listener of runnerListeners) process.on('uncaughtException', listener);
      await locker.query('ROLLBACK');
      locker.release();
      await pool.end();
    }
  }

  it('rejects a write by binary COPY and raises no uncaught error', async () => {
    const result = await terminatedMidWrite('event-write-copy-restart', (pool) =>
      insertEventGroups(pool, [[event('restart-copy-1'), event('restart-copy-2')]], { copyFromEvents: 1 }),
    );
    expect(result).toEqual({ outcome: 'rejected', uncaught: [], checkedOut: 0 });
  });

  it('rejects a transaction (a catalog write, an erasure) and raises no uncaught error', async () => {
    const result = await terminatedMidWrite('event-write-transaction-restart', (pool) =>
      withTransaction(pool, (client) =>
        client.query("INSERT INTO event_ids (event_id, ts) VALUES ('restart-transaction', now())"),
      ),
    );
    expect(result).toEqual({ outcome: 'rejected', uncaught: [], checkedOut: 0 });
  });

  it('rejects an import chunk and raises no uncaught error', async () => {
    const result = await terminatedMidWrite('event-write-import-restart', async (pool) => {
      const sink = new EventImport(pool);
      await sink.write({ ...event('restart-import-1'), categoryId: null });
      await sink.finish();
    });
    expect(result).toEqual({ outcome: 'rejected', uncaught: [], checkedOut: 0 });
  });
});
