import { randomInt, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANONYMOUS_USER_PREFIX, EVENT_TYPES, type EventType, type StoredEvent } from '@elevens/domain';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { EVENT_COLUMNS } from './event-sql';
import { ensureEventPartitionsFor } from './partitions';
import {
  connectClient,
  isQueryTimeout,
  type Pool,
  type PoolClient,
  type Queryable,
  releaseClient,
  rollBack,
  withQueryTimeout,
} from './pool';

/**
 * A stored event; `anonymous` is true when it was stored anonymously (its user withheld personalization
 * consent). Events stored as sent are the caller's own objects, not copies: one allocation less per event.
 */
export interface CommittedEvent extends StoredEvent {
  anonymous?: boolean;
}

export interface InsertEventsResult {
  /** The events that were new and are now committed, in input order (user id anonymised where stored so). */
  inserted: CommittedEvent[];
  duplicates: number;
  /**
   * The events refused as older than the cut-off `elevens events prune` recorded (`event_prune_cut_off`), by
   * position in the group: their ids may have been forgotten, so a resend would be stored a second time, into
   * months the prune left partial. An id is decided by its first occurrence in the write, as for duplicates.
   */
  beforePruneCutOff: { index: number; cutOffMs: number }[];
}

/**
 * Groups of at least this many distinct events are written by binary COPY (`writeByCopy`), smaller ones by one
 * statement (`writeByStatement`). In groups of 5,000, COPY costs Postgres about a third less CPU per event (7.4
 * against 11.7 µs: it inserts rows in batches and parses no text), but it takes four round trips instead of one:
 * in groups of 100 both cost Postgres about 21 µs per event and the statement wrote a fifth more events per
 * second; in groups of 400 COPY cost 15–15.5 µs against 16–18.5, as fast.
 */
export const COPY_FROM_EVENTS = 400;

export interface EventWriteOptions {
  /** groups of at least this many distinct events are written by COPY (default `COPY_FROM_EVENTS`) */
  copyFromEvents?: number;
}

/**
 * The statements' input: one array literal per column (`arrayParameters`), timestamps as epoch ms. The statements
 * run as named prepared statements: parsed once per connection and planned once for all groups, where a group of a
 * few events (single-event requests) spent more of Postgres's time parsing and planning than writing.
 */
const INPUT = `
  SELECT event_id, user_id, item_id, type, timestamptz 'epoch' + ms * interval '1 millisecond' AS ts,
         session_id, recommendation_id, quantity, price, properties, ord
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::int[],
              $9::numeric[], $10::jsonb[]) WITH ORDINALITY
       AS t(event_id, user_id, item_id, session_id, recommendation_id, type, ms, quantity, price, properties, ord)`;

/**
 * The input without the events older than the prune cut-off (`before_cut_off`, answered as refused), each event
 * of a user who withheld personalization consent anonymised (`anonymiseIf`); the cut-off and the users are looked
 * up in the statement itself: a group of a few events pays one round trip, not two. Materialized, so each
 * anonymous id is drawn once.
 */
const ROWS = `
  input AS (${INPUT}),
  before_cut_off AS (
    SELECT i.event_id, c.cut_off FROM input i JOIN event_prune_cut_off c ON i.ts < c.cut_off
  ),
  withheld AS (
    SELECT user_id FROM users WHERE user_id IN (SELECT user_id FROM input) AND NOT consent_personalization
  ),
  rows AS MATERIALIZED (
    SELECT i.ord, i.event_id, i.item_id, i.type, i.ts, i.quantity, i.price, w.user_id IS NOT NULL AS anonymous,
           CASE WHEN w.user_id IS NULL THEN i.user_id ELSE '${ANONYMOUS_USER_PREFIX}' || gen_random_uuid() END
             AS user_id,
           CASE WHEN w.user_id IS NULL THEN i.session_id END AS session_id,
           CASE WHEN w.user_id IS NULL THEN i.recommendation_id END AS recommendation_id,
           CASE WHEN w.user_id IS NULL THEN i.properties END AS properties
    FROM input i LEFT JOIN withheld w USING (user_id)
    WHERE NOT EXISTS (SELECT 1 FROM before_cut_off b WHERE b.event_id = i.event_id)
  )`;

/**
 * Claims the ids and inserts the events whose id was new, in one statement. The input holds each id once, sorted,
 * and is claimed in its order (as COPY does), so concurrent writers take the key locks in the same order (no
 * deadlock). Answers the ids that were already stored (user_id and cut_off NULL; usually none), the anonymised
 * events' new user ids and the refused events' prune cut-off (`StatementAnswer`).
 */
const CLAIM_AND_INSERT = `
  WITH ${ROWS},
  fresh AS (
    INSERT INTO event_ids (event_id, ts) SELECT event_id, ts + $11::int * interval '1 microsecond' FROM rows ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING event_id
  ),
  stored AS (
    INSERT INTO events (${EVENT_COLUMNS})
    SELECT ${EVENT_COLUMNS} FROM rows WHERE event_id IN (SELECT event_id FROM fresh)
  )
  SELECT event_id, NULL AS user_id, NULL::timestamptz AS cut_off FROM rows r
  WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.event_id = r.event_id)
  UNION ALL
  SELECT event_id, user_id, NULL FROM rows WHERE anonymous
  UNION ALL
  SELECT event_id, NULL, cut_off FROM before_cut_off`;

/**
 * `CLAIM_AND_INSERT` for a group whose ids are all new: a plain insert into `event_ids`, whose unique check is
 * part of the index insertion, takes about half the time of ON CONFLICT's speculative insertion (13 vs 24 ms for
 * 5,000 ids) and a fifth less WAL. A stored id fails the whole statement with a unique violation; nothing of it
 * is kept. Answers the anonymised events' new user ids and the refused events' prune cut-off.
 */
const INSERT_NEW = `
  WITH ${ROWS},
  claimed AS (
    INSERT INTO event_ids (event_id, ts) SELECT event_id, ts + $11::int * interval '1 microsecond' FROM rows ORDER BY ord
  ),
  stored AS (INSERT INTO events (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM rows)
  SELECT event_id, user_id, NULL::timestamptz AS cut_off FROM rows WHERE anonymous
  UNION ALL
  SELECT event_id, NULL, cut_off FROM before_cut_off`;

/**
 * Stores each group's events once each and reports per group: ids already in `event_ids`, or seen earlier in
 * this call (in an earlier group or earlier in the same group), count as that group's duplicates. All groups
 * commit together or not at all, so each result describes exactly what was committed. Events of users who
 * withdrew personalization consent are stored under a fresh anonymous user id with no session, recommendation
 * or properties.
 */
export async function insertEventGroups(
  pool: Pool,
  groups: readonly (readonly StoredEvent[])[],
  { copyFromEvents = COPY_FROM_EVENTS }: EventWriteOptions = {},
): Promise<InsertEventsResult[]> {
  const all = groups.flat();
  if (all.length === 0) return groups.map(() => ({ inserted: [], duplicates: 0, beforePruneCutOff: [] }));
  await ensureEventPartitionsFor(pool, all);
  let rows: CommittedEvent[] = all;
  if (rows.some(hasSurrogateInIds)) rows = rows.map(withWellFormedIds);
  let unique = firstOfEachIdSorted(rows);
  if (unique.length >= copyFromEvents) {
    const withheld = await usersWithoutConsent(pool, unique);
    if (withheld.size > 0) {
      rows = rows.map((e) => anonymiseIf(e, withheld));
      unique = firstOfEachIdSorted(rows);
    }
  }
  const written =
    unique.length >= copyFromEvents ? await writeByCopy(pool, unique) : await writeByStatement(pool, unique);
  const { stored: seen, beforeCutOff } = written;
  // The statements anonymise too: a user may withdraw consent after the COPY path's lookup.
  if (written.anonymised.size > 0) rows = rows.map((e) => anonymisedAs(e, written.anonymised));
  let offset = 0;
  if (seen.size === 0 && beforeCutOff.size === 0 && unique.length === rows.length) {
    // The usual group: every event new and sent once.
    return groups.map((group) => {
      offset += group.length;
      return { inserted: rows.slice(offset - group.length, offset), duplicates: 0, beforePruneCutOff: [] };
    });
  }
  // `seen` starts as the ids stored before; an id's first occurrence here is inserted, every other a duplicate.
  return groups.map((group) => {
    const inserted: CommittedEvent[] = [];
    const beforePruneCutOff: InsertEventsResult['beforePruneCutOff'] = [];
    for (let i = offset; i < offset + group.length; i++) {
      const row = rows[i]!;
      const cutOffMs = beforeCutOff.get(row.eventId);
      if (cutOffMs !== undefined) beforePruneCutOff.push({ index: i - offset, cutOffMs });
      else if (!seen.has(row.eventId)) {
        seen.add(row.eventId);
        inserted.push(row);
      }
    }
    offset += group.length;
    return {
      inserted,
      duplicates: group.length - inserted.length - beforePruneCutOff.length,
      beforePruneCutOff,
    };
  });
}

/** The first row of each id, sorted by id (the sort is stable: of equal ids, the first sent comes first). */
function firstOfEachIdSorted(rows: readonly CommittedEvent[]): CommittedEvent[] {
  const sorted = [...rows].sort(byEventId);
  const unique = [sorted[0]!];
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.eventId !== sorted[i - 1]!.eventId) unique.push(sorted[i]!);
  }
  return unique;
}

/**
 * The event log in Postgres as the ingest path writes it: every event stored once by id (`event_ids`), in its
 * monthly partition of `events`. Ingest's only way to write events.
 */
export class EventLog {
  constructor(private readonly pool: Pool) {}

  /** `insertEventGroups`: the groups commit together, one result per group, in order. */
  appendGroups(groups: readonly (readonly StoredEvent[])[]): Promise<InsertEventsResult[]> {
    return insertEventGroups(this.pool, groups);
  }
}

/** `insertEventGroups` for one group. */
export async function insertEvents(pool: Pool, events: readonly StoredEvent[]): Promise<InsertEventsResult> {
  const [result] = await insertEventGroups(pool, [events]);
  return result!;
}

const byEventId = (a: StoredEvent, b: StoredEvent) =>
  a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;

function anonymiseIf(e: StoredEvent, withheld: ReadonlySet<string>): CommittedEvent {
  return withheld.has(e.userId) ? anonymised(e, ANONYMOUS_USER_PREFIX + randomUUID()) : e;
}

/** The event as stored anonymously under `userId`, when the statement did (`ROWS`). */
function anonymisedAs(e: CommittedEvent, userIdByEventId: ReadonlyMap<string, string>): CommittedEvent {
  const userId = userIdByEventId.get(e.eventId);
  return userId === undefined ? e : anonymised(e, userId);
}

const anonymised = (e: StoredEvent, userId: string): CommittedEvent => ({
  ...e,
  userId,
  sessionId: null,
  recommendationId: null,
  properties: null,
  anonymous: true,
});

async function usersWithoutConsent(db: Queryable, events: readonly StoredEvent[]): Promise<Set<string>> {
  const userIds = [...new Set(events.map((e) => e.userId))];
  const { rows } = await db.query<{ user_id: string }>({
    name: 'elevens-users-without-consent',
    text: 'SELECT user_id FROM users WHERE user_id = ANY($1::text[]) AND NOT consent_personalization',
    values: [`{${userIds.map(quotedElement).join(',')}}`],
  });
  return new Set(rows.map((r) => r.user_id));
}

const isoOf = (ms: number) => new Date(ms).toISOString();

/** Elements of a text array literal are quoted; only a backslash or a double quote inside needs escaping. */
const ARRAY_ELEMENT_ESCAPE = /[\\"]/g;
const quotedElement = (value: string) =>
  value.search(ARRAY_ELEMENT_ESCAPE) === -1
    ? `"${value}"`
    : `"${value.replace(ARRAY_ELEMENT_ESCAPE, '\\$&')}"`;

const needsNoQuoting = (value: string | null): value is string =>
  value !== null && value.indexOf('"') === -1 && value.indexOf('\\') === -1;

function textArray(rows: readonly CommittedEvent[], field: (e: CommittedEvent) => string | null): string {
  const values = rows.map(field);
  // The usual column (no NULL, nothing to escape) is one join, without a string per element.
  if (values.every(needsNoQuoting)) return `{"${values.join('","')}"}`;
  return `{${values.map((value) => (value === null ? 'NULL' : quotedElement(value))).join(',')}}`;
}

function numberArray(rows: readonly CommittedEvent[], field: (e: CommittedEvent) => number | null): string {
  return `{${rows.map((e) => field(e) ?? 'NULL').join(',')}}`;
}

/**
 * The statements' ten parameters ($1…$10) as array literals, built here rather than by pg (which escapes every
 * element with two regular expressions). A third of the bytes of a JSON array of the rows, and Postgres parses
 * them three times faster than json_to_recordset (3.1 vs 9.6 ms for 5,000 rows).
 */
const arrayParameters = (rows: readonly CommittedEvent[]): string[] => [
  textArray(rows, (e) => e.eventId),
  textArray(rows, (e) => e.userId),
  textArray(rows, (e) => e.itemId),
  textArray(rows, (e) => e.sessionId),
  textArray(rows, (e) => e.recommendationId),
  textArray(rows, (e) => e.type),
  numberArray(rows, (e) => e.timestampMs),
  numberArray(rows, (e) => e.quantity),
  numberArray(rows, (e) => e.price),
  textArray(rows, (e) => (e.properties === null ? null : JSON.stringify(e.properties))),
];

/**
 * A lone UTF-16 surrogate in an id is sent (UTF-8) and so stored as U+FFFD. Only ids can hold one (properties
 * are checked on the way in); a group where any id holds a surrogate is written with the ids as they will be
 * stored (`withWellFormedIds`), so the ids Postgres answers with match the rows', and two ids that differ only
 * there are one id.
 */
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormed = <T extends string | null>(s: T): T =>
  s === null ? s : (s.replace(LONE_SURROGATE, '\uFFFD') as T);

const hasSurrogateInIds = (e: CommittedEvent) =>
  SURROGATE.test(e.eventId) ||
  SURROGATE.test(e.userId) ||
  SURROGATE.test(e.itemId) ||
  (e.sessionId !== null && SURROGATE.test(e.sessionId)) ||
  (e.recommendationId !== null && SURROGATE.test(e.recommendationId));

const withWellFormedIds = (e: CommittedEvent): CommittedEvent => ({
  ...e,
  eventId: wellFormed(e.eventId),
  userId: wellFormed(e.userId),
  itemId: wellFormed(e.itemId),
  sessionId: wellFormed(e.sessionId),
  recommendationId: wellFormed(e.recommendationId),
});

/** Per pool (so per database): whether the last group written held ids that were already stored. */
const lastGroupHadStoredIds = new WeakMap<Pool, boolean>();

/**
 * What a write did: the ids stored before, the new user id of each event it stored anonymously, and the prune
 * cut-off (epoch ms) of each id it refused as older.
 */
interface StatementWrite {
  stored: Set<string>;
  anonymised: Map<string, string>;
  beforeCutOff: Map<string, number>;
}

/** A row of the statements' answer: an id stored before (no user id, no cut-off), anonymised or refused. */
interface StatementAnswer {
  event_id: string;
  user_id: string | null;
  cut_off: Date | null;
}

function statementWrite(answered: readonly StatementAnswer[]): StatementWrite {
  const written: StatementWrite = { stored: new Set(), anonymised: new Map(), beforeCutOff: new Map() };
  for (const { event_id, user_id, cut_off } of answered) {
    if (cut_off !== null) written.beforeCutOff.set(event_id, cut_off.getTime());
    else if (user_id === null) written.stored.add(event_id);
    else written.anonymised.set(event_id, user_id);
  }
  return written;
}

/**
 * Each write adds a mark of its own, a random 1–999,999 µs, to the `ts` of the keys it claims in `event_ids`
 * (read only by prune, for which a second is nothing; `events` keeps the event's time). When a write's outcome is
 * unknown (`settleUncertainWrite`), the keys bearing its mark are the ones it stored: a key claimed by another
 * write of the same ids (a resend, on this process or another) bears that write's mark, one chance in a million
 * of being ours.
 */
const MAX_WRITE_MARK = 1_000_000;

/**
 * Thrown when a write may have committed and the check on another connection could not tell: its events may be
 * stored without their live state.
 */
export class EventWriteOutcomeUnknown extends Error {
  constructor(
    /** the write's own failure */
    readonly writeError: unknown,
    checkError: unknown,
  ) {
    super('the write may have committed and its outcome could not be checked', { cause: checkError });
    this.name = 'EventWriteOutcomeUnknown';
  }
}

/**
 * Writes a group with one statement, so it commits atomically without an explicit transaction. New ids are the
 * rule (a resend is a client's retry), so `INSERT_NEW` is tried first; a unique violation means the group holds a
 * stored id, and it is written again with `CLAIM_AND_INSERT`. After a group with stored ids the next goes
 * straight to `CLAIM_AND_INSERT` (until one has none), so a burst of retries does not pay for every group twice.
 * A statement is its own commit: when its answer is lost, it may have committed (`settleUncertainWrite`).
 */
async function writeByStatement(pool: Pool, rows: readonly CommittedEvent[]): Promise<StatementWrite> {
  const mark = randomInt(1, MAX_WRITE_MARK);
  const parameters = [...arrayParameters(rows), String(mark)];
  const client = await connectClient(pool);
  let uncertain: unknown = null;
  try {
    if (!lastGroupHadStoredIds.get(pool)) {
      try {
        const { rows: answered } = await client.query<StatementAnswer>({
          name: 'elevens-insert-new-events',
          text: INSERT_NEW,
          values: parameters,
        });
        return statementWrite(answered);
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      }
    }
    return await claimAndInsert(pool, client, parameters);
  } catch (error) {
    if (!mayHaveCommitted(error)) throw error;
    uncertain = error;
  } finally {
    releaseClient(client, uncertain !== null);
  }
  return settleUncertainWrite(pool, backendPid(client), rows, mark, uncertain);
}

/** `CLAIM_AND_INSERT`; remembers whether the group held stored ids. */
async function claimAndInsert(pool: Pool, client: PoolClient, parameters: string[]): Promise<StatementWrite> {
  const { rows: answered } = await client.query<StatementAnswer>({
    name: 'elevens-claim-and-insert-events',
    text: CLAIM_AND_INSERT,
    values: parameters,
  });
  const written = statementWrite(answered);
  lastGroupHadStoredIds.set(pool, written.stored.size > 0);
  return written;
}

/**
 * `writeByStatement` by binary COPY: in one transaction, the ids straight into `event_ids`, then the events
 * into `events`, without those older than the prune cut-off read as the transaction begins
 * (`beginReadingPruneCutOff`). The rows are sorted by id, so concurrent writers take the key locks in the same
 * order (no deadlock); a writer copying an id another has claimed waits for its commit. COPY knows no ON
 * CONFLICT: a stored id fails it with a unique violation, nothing of it is kept, and the group is written again
 * with `CLAIM_AND_INSERT` (as are the next groups, until one holds no stored id). Only a failed COMMIT may leave
 * the outcome unknown: a connection lost before it rolls the transaction back.
 */
async function writeByCopy(pool: Pool, rows: readonly CommittedEvent[]): Promise<StatementWrite> {
  if (lastGroupHadStoredIds.get(pool)) return writeByStatement(pool, rows);
  const mark = randomInt(1, MAX_WRITE_MARK);
  const client = await connectClient(pool);
  let committing = false;
  let uncertain: unknown = null;
  let admitted = rows;
  const beforeCutOff = new Map<string, number>();
  try {
    const cutOffMs = await beginReadingPruneCutOff(client);
    if (cutOffMs !== null && rows.some((e) => e.timestampMs < cutOffMs)) {
      admitted = rows.filter((e) => e.timestampMs >= cutOffMs);
      for (const e of rows) if (e.timestampMs < cutOffMs) beforeCutOff.set(e.eventId, cutOffMs);
    }
    await copyBinaryIn(client, 'event_ids (event_id, ts)', eventIdsCopyData(admitted, mark));
    await copyBinaryIn(client, `events (${EVENT_COLUMNS})`, eventsCopyData(admitted));
    committing = true;
    await client.query('COMMIT');
    return { stored: new Set(), anonymised: new Map(), beforeCutOff };
  } catch (error) {
    if (committing && mayHaveCommitted(error)) uncertain = error;
    else {
      await rollBack(client, error);
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
    }
  } finally {
    releaseClient(client, uncertain !== null);
  }
  if (uncertain !== null) {
    const settled = await settleUncertainWrite(pool, backendPid(client), admitted, mark, uncertain);
    for (const [eventId, cutOffMs] of beforeCutOff) settled.beforeCutOff.set(eventId, cutOffMs);
    return settled;
  }
  lastGroupHadStoredIds.set(pool, true);
  return writeByStatement(pool, rows);
}

/**
 * Begins the COPY path's transaction and reads the prune cut-off, in one round trip (a simple query of several
 * statements). `event_ids` is locked for writing before the read, as a statement's write locks it before it
 * reads: a prune records its cut-off only once the writes that may have read the one before have committed
 * (`pruneEvents`).
 */
async function beginReadingPruneCutOff(client: PoolClient): Promise<number | null> {
  // pg answers a query of several statements with one result each; its types know only the single result.
  const results = (await client.query(
    'BEGIN; LOCK TABLE event_ids IN ROW EXCLUSIVE MODE; SELECT cut_off FROM event_prune_cut_off',
  )) as unknown as pg.QueryResult<{ cut_off: Date }>[];
  return results[2]!.rows[0]?.cut_off.getTime() ?? null;
}

/**
 * Whether a commit sent before `error` may have happened: an error Postgres answered means the transaction was
 * rolled back, except its ending the session (57P01–57P03), which may follow a commit (a wait for a synchronous
 * standby cut short). Anything else (a lost or silent connection) leaves the outcome unknown.
 */
function mayHaveCommitted(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return /^57P0[123]$/.test(error.code ?? '');
  return !(error instanceof Error && NOT_SENT.test(error.message));
}

/** pg's refusals of a query on a client whose connection had already ended: nothing was sent. */
const NOT_SENT = /^Client (has encountered a connection error|was closed) and is not queryable$/;

/** The backend serving `client` (pg keeps it from the connection's start; its types omit it). */
const backendPid = (client: PoolClient) => (client as PoolClient & { processID: number }).processID;

/** How long a write's backend still running after its connection was lost is given to finish on its own. */
const ORPHAN_GRACE_MS = 1_000;
/** Bound on each query of the check, and on the wait for the write's backend to end once terminated. */
const SETTLE_TIMEOUT_MS = 2_000;
const SETTLE_ATTEMPTS = 3;

/**
 * Per id of the write: whether its key is stored (`ours` null when not), bears the write's mark (`$3`), the
 * user id of its event when the write stored it anonymously, and the prune cut-off when the event is older.
 */
const SETTLE = `
  SELECT i.event_id, k.ts = timestamptz 'epoch' + (i.ms * 1000 + $3::int) * interval '1 microsecond' AS ours,
         e.user_id AS anonymous_user_id, c.cut_off
  FROM unnest($1::text[], $2::bigint[]) AS i(event_id, ms)
  LEFT JOIN event_ids k USING (event_id)
  LEFT JOIN events e ON e.event_id = i.event_id AND e.ts = timestamptz 'epoch' + i.ms * interval '1 millisecond'
    AND left(e.user_id, ${ANONYMOUS_USER_PREFIX.length}) = '${ANONYMOUS_USER_PREFIX}'
  LEFT JOIN event_prune_cut_off c ON timestamptz 'epoch' + i.ms * interval '1 millisecond' < c.cut_off`;

/**
 * Resolves a write whose commit may have happened though its answer was lost (`mayHaveCommitted`), on another
 * connection. The write's backend (`pid`) may still be running it, or hold it unread: it is given
 * `ORPHAN_GRACE_MS` to finish, then terminated, and the check waits until it is gone, so the outcome cannot
 * change after it is read. The keys bearing the write's mark (`MAX_WRITE_MARK`) are the events it stored; keys
 * stored by another write count as stored before (duplicates: their writer applies them), so an event is never
 * reported new twice; an event older than the prune cut-off whose key does not bear the mark was refused, as the
 * write refuses it. When no key bears the mark and some id is not stored, nothing was committed: `writeError`
 * is thrown. When the check cannot run, `EventWriteOutcomeUnknown`.
 */
async function settleUncertainWrite(
  pool: Pool,
  pid: number,
  rows: readonly CommittedEvent[],
  mark: number,
  writeError: unknown,
): Promise<StatementWrite> {
  let found:
    | { event_id: string; ours: boolean | null; anonymous_user_id: string | null; cut_off: Date | null }[]
    | null = null;
  // The connections lost with the write's may still be in the pool, unnoticed: each attempt discards its own.
  for (let attempt = 1; found === null; attempt++) {
    let client: PoolClient | null = null;
    try {
      client = await connectClient(pool);
      await endBackend(client, pid);
      ({ rows: found } = await client.query(
        withQueryTimeout(
          SETTLE,
          [textArray(rows, (e) => e.eventId), numberArray(rows, (e) => e.timestampMs), String(mark)],
          SETTLE_TIMEOUT_MS,
        ),
      ));
      releaseClient(client);
    } catch (error) {
      if (client !== null) releaseClient(client, true);
      // A check that timed out would time out again (a table locked, a Postgres that stalls).
      if (attempt === SETTLE_ATTEMPTS || isQueryTimeout(error))
        throw new EventWriteOutcomeUnknown(writeError, error);
    }
  }
  const written: StatementWrite = { stored: new Set(), anonymised: new Map(), beforeCutOff: new Map() };
  let missing = 0;
  let ours = 0;
  for (const { event_id, ours: isOurs, anonymous_user_id, cut_off } of found) {
    if (isOurs === true) {
      ours++;
      if (anonymous_user_id !== null) written.anonymised.set(event_id, anonymous_user_id);
    } else if (cut_off !== null) written.beforeCutOff.set(event_id, cut_off.getTime());
    else if (isOurs === null) missing++;
    else written.stored.add(event_id);
  }
  if (missing > 0 && ours === 0) throw writeError;
  if (missing > 0)
    throw new EventWriteOutcomeUnknown(writeError, new Error(`${missing} ids of a commit missing`));
  lastGroupHadStoredIds.set(pool, written.stored.size > 0);
  return written;
}

/** Waits until backend `pid` is gone: a running one gets `ORPHAN_GRACE_MS` to finish, any other is terminated. */
async function endBackend(client: PoolClient, pid: number): Promise<void> {
  const started = performance.now();
  let terminatedAt: number | null = null;
  for (;;) {
    const { rows } = await client.query<{ state: string | null }>(
      withQueryTimeout('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid], SETTLE_TIMEOUT_MS),
    );
    if (rows.length === 0) return;
    const now = performance.now();
    if (terminatedAt === null) {
      // An idle backend may hold the write unread: it must not read it after the check.
      if (rows[0]!.state !== 'active' || now - started >= ORPHAN_GRACE_MS) {
        await client.query(withQueryTimeout('SELECT pg_terminate_backend($1)', [pid], SETTLE_TIMEOUT_MS));
        terminatedAt = now;
      }
    } else if (now - terminatedAt >= SETTLE_TIMEOUT_MS) {
      throw new Error(`backend ${pid} of the write did not end`);
    }
    await sleep(10);
  }
}

async function copyBinaryIn(client: PoolClient, target: string, data: Buffer): Promise<void> {
  const copy = client.query(copyFrom(`COPY ${target} FROM STDIN (FORMAT binary)`));
  copy.end(data);
  await finished(copy);
}

/**
 * Binary COPY data, written into one growing buffer: a header, then per row an int16 field count and per field
 * an int32 length (-1 for NULL) and the value in the type's binary form. Text is UTF-8 as it stands, a timestamp
 * an int64 of microseconds since 2000-01-01 UTC: Postgres parses neither, and nothing is escaped.
 */
class CopyBinaryWriter {
  private buffer = Buffer.allocUnsafe(64 * 1024);
  private offset = COPY_BINARY_HEADER.copy(this.buffer, 0);

  row(fields: number): void {
    this.reserve(2);
    this.offset = this.buffer.writeInt16BE(fields, this.offset);
  }

  null(): void {
    this.reserve(4);
    this.offset = this.buffer.writeInt32BE(-1, this.offset);
  }

  text(value: string | null): void {
    if (value === null) {
      this.null();
      return;
    }
    // UTF-8 takes at most three bytes per UTF-16 code unit.
    this.reserve(4 + 3 * value.length);
    const bytes = this.buffer.write(value, this.offset + 4);
    this.buffer.writeInt32BE(bytes, this.offset);
    this.offset += 4 + bytes;
  }

  /** `ms` and `extraUs` microseconds */
  timestamp(ms: number, extraUs = 0): void {
    const us = (ms - PG_EPOCH_MS) * 1000 + extraUs;
    const high = Math.floor(us / 2 ** 32);
    this.reserve(12);
    this.offset = this.buffer.writeInt32BE(8, this.offset);
    this.offset = this.buffer.writeInt32BE(high, this.offset);
    this.offset = this.buffer.writeUInt32BE(us - high * 2 ** 32, this.offset);
  }

  int32(value: number | null): void {
    if (value === null) {
      this.null();
      return;
    }
    this.reserve(8);
    this.offset = this.buffer.writeInt32BE(4, this.offset);
    this.offset = this.buffer.writeInt32BE(value, this.offset);
  }

  /** numeric: the decimal digits of the value's shortest text (what the text path sends), in base 10,000. */
  numeric(value: number | null): void {
    if (value === null) {
      this.null();
      return;
    }
    const { sign, weight, scale, digits } = numericParts(value);
    this.reserve(12 + 2 * digits.length);
    this.offset = this.buffer.writeInt32BE(8 + 2 * digits.length, this.offset);
    this.offset = this.buffer.writeInt16BE(digits.length, this.offset);
    this.offset = this.buffer.writeInt16BE(weight, this.offset);
    this.offset = this.buffer.writeUInt16BE(sign, this.offset);
    this.offset = this.buffer.writeInt16BE(scale, this.offset);
    for (const digit of digits) this.offset = this.buffer.writeInt16BE(digit, this.offset);
  }

  /** jsonb: a version byte (1), then the JSON text. */
  jsonb(value: Record<string, unknown> | null): void {
    if (value === null) {
      this.null();
      return;
    }
    const text = JSON.stringify(value);
    this.reserve(5 + 3 * text.length);
    const bytes = this.buffer.write(text, this.offset + 5);
    this.offset = this.buffer.writeInt32BE(bytes + 1, this.offset);
    this.offset = this.buffer.writeUInt8(1, this.offset);
    this.offset += bytes;
  }

  /** The data, trailer included; the writer is not used after. */
  end(): Buffer {
    this.reserve(2);
    this.offset = this.buffer.writeInt16BE(-1, this.offset);
    return this.buffer.subarray(0, this.offset);
  }

  private reserve(bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.offset + bytes));
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }
}

/** Signature, flags (0) and header extension length (0) of binary COPY data. */
const COPY_BINARY_HEADER = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const NUMERIC_NEGATIVE = 0x4000;

/**
 * numeric's binary parts for a finite number, from its shortest decimal text (`String(value)`, as the text path
 * sends it, so Postgres rounds it to the column's scale the same way): base-10,000 digits without leading or
 * trailing zeros, the weight of the first (its power of 10,000) and the scale (decimal places).
 */
export function numericParts(value: number): {
  sign: number;
  weight: number;
  scale: number;
  digits: number[];
} {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  const [mantissa, exponent = '0'] = String(Math.abs(value)).split('e');
  const [whole, fraction = ''] = mantissa!.split('.');
  let decimals = whole! + fraction;
  // The decimal point sits before decimals[point]; pad so that it falls on a base-10,000 digit boundary.
  let point = whole!.length + Number(exponent);
  const scale = Math.max(0, decimals.length - point);
  if (point < 0) {
    decimals = '0'.repeat(-point) + decimals;
    point = 0;
  }
  if (point > decimals.length) decimals += '0'.repeat(point - decimals.length);
  const lead = (4 - (point % 4)) % 4;
  decimals = '0'.repeat(lead) + decimals;
  point += lead;
  decimals += '0'.repeat((4 - (decimals.length % 4)) % 4);
  const digits: number[] = [];
  for (let i = 0; i < decimals.length; i += 4) digits.push(Number(decimals.slice(i, i + 4)));
  let weight = point / 4 - 1;
  while (digits.length > 0 && digits[0] === 0) {
    digits.shift();
    weight--;
  }
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
  if (digits.length === 0) return { sign: 0, weight: 0, scale, digits };
  return { sign: value < 0 ? NUMERIC_NEGATIVE : 0, weight, scale, digits };
}

/** The keys' rows, their `ts` bearing the write's mark (`MAX_WRITE_MARK`). */
function eventIdsCopyData(rows: readonly CommittedEvent[], mark: number): Buffer {
  const out = new CopyBinaryWriter();
  for (const e of rows) {
    out.row(2);
    out.text(e.eventId);
    out.timestamp(e.timestampMs, mark);
  }
  return out.end();
}

/** The rows in EVENT_COLUMNS order. */
function eventsCopyData(rows: readonly CommittedEvent[]): Buffer {
  const out = new CopyBinaryWriter();
  for (const e of rows) {
    out.row(10);
    out.text(e.eventId);
    out.text(e.userId);
    out.text(e.itemId);
    out.text(e.type);
    out.timestamp(e.timestampMs);
    out.text(e.sessionId);
    out.text(e.recommendationId);
    out.int32(e.quantity);
    out.numeric(e.price);
    out.jsonb(e.properties);
  }
  return out.end();
}

/** COPY text format: `\N` is NULL; backslash, tab, newline and carriage return are escaped. */
export function copyTextField(value: string | number | null): string {
  if (value === null) return '\\N';
  const text = String(value);
  return /[\\\t\n\r]/.test(text)
    ? text.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!)
    : text;
}

/** An event's values in EVENT_COLUMNS order. */
const eventValues = (e: StoredEvent): (string | number | null)[] => [
  e.eventId,
  e.userId,
  e.itemId,
  e.type,
  isoOf(e.timestampMs),
  e.sessionId,
  e.recommendationId,
  e.quantity,
  e.price,
  e.properties === null ? null : JSON.stringify(e.properties),
];

const copyLine = (values: readonly (string | number | null)[]) => values.map(copyTextField).join('\t') + '\n';

/** Streams rows into `target` (a table and its column list) with COPY FROM STDIN, 1,000 lines per write. */
async function copyRowsIn(
  client: PoolClient,
  target: string,
  rows: Iterable<readonly (string | number | null)[]>,
): Promise<void> {
  await pipeline(
    (function* () {
      let lines: string[] = [];
      for (const values of rows) {
        lines.push(copyLine(values));
        if (lines.length >= 1_000) {
          yield lines.join('');
          lines = [];
        }
      }
      if (lines.length > 0) yield lines.join('');
    })(),
    client.query(copyFrom(`COPY ${target} FROM STDIN`)),
  );
}

const UNIQUE_VIOLATION = '23505';

export interface EventWindow {
  /** inclusive lower bound, epoch ms */
  fromMs: number;
  /** inclusive upper bound, epoch ms */
  toMs: number;
}

/** The timestamp of the newest event, or null for an empty table. */
export async function newestEventMs(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ max: Date | null }>('SELECT max(ts) AS max FROM events');
  return rows[0]?.max ? rows[0].max.getTime() : null;
}

/**
 * Runs a COPY … TO STDOUT on its own client; the caller must call `release()` when it stops reading. A client
 * whose COPY was not read to its end is closed, not pooled: in the middle of a COPY it answers no other query, and
 * the next one given it (a failed build recording its run) waited forever.
 */
async function copyOut(pool: Pool, sql: string): Promise<{ stream: Readable; release: () => void }> {
  const client = await connectClient(pool);
  const stream = client.query(copyTo(sql));
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      releaseClient(client, !stream.readableEnded);
    }
  };
  stream.on('error', release);
  return { stream, release };
}

const windowBounds = (window: EventWindow) => ({
  from: new Date(window.fromMs).toISOString(),
  to: new Date(window.toMs).toISOString(),
});

/**
 * Streams the events of a window as text-format COPY rows `user_id \t item_id \t type \t epoch_ms \t session_id`,
 * so the build job never holds the table as JS objects. The caller must call `release()` when the stream ends.
 */
export async function copyEventsOut(
  pool: Pool,
  window: EventWindow,
): Promise<{ stream: Readable; release: () => void }> {
  const { from, to } = windowBounds(window);
  return copyOut(
    pool,
    `COPY (SELECT user_id, item_id, type, (extract(epoch FROM ts) * 1000)::bigint, session_id
           FROM events WHERE ts >= '${from}' AND ts <= '${to}') TO STDOUT`,
  );
}

/**
 * The build job's input, for a model run: user_id, item_id, type, ts and session_id of the events in a window as
 * a COPY (FORMAT binary) stream. Binary because Postgres then neither formats timestamps nor escapes text, which
 * halves its side of a ten-million-row read. The session is sent only for cart and purchase events, the only ones
 * grouped into baskets. Layout: PGCOPY header, then per row an int16 field count and per field an int32 length
 * (-1 = NULL) and its bytes; ts is int64 microseconds since 2000-01-01 UTC.
 */
export async function copyBuildEventsOut(
  pool: Pool,
  window: EventWindow,
): Promise<{ stream: Readable; release: () => void }> {
  const { from, to } = windowBounds(window);
  return copyOut(
    pool,
    `COPY (SELECT user_id, item_id, type, ts, CASE WHEN type IN ('cart', 'purchase') THEN session_id END
           FROM events WHERE ts >= '${from}' AND ts <= '${to}') TO STDOUT (FORMAT binary)`,
  );
}

/** The control characters COPY TO writes as a backslash and a letter (besides the backslash itself). */
const COPY_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** A field of COPY TO's text format as stored: its escapes (`copyTextField` writes the same) decoded. */
export const unescapeCopyField = (field: string) =>
  field.includes('\\') ? field.replace(/\\(.)/g, (_, c: string) => COPY_ESCAPES[c] ?? c) : field;

/** The rows of a query, streamed with COPY TO so a large result is never held in memory. */
async function* copyRowsOut(pool: Pool, sql: string): AsyncGenerator<string[]> {
  const client = await connectClient(pool);
  const stream = client.query(copyTo(`COPY (${sql}) TO STDOUT`));
  const decoder = new StringDecoder('utf8');
  let carry = '';
  try {
    for await (const chunk of stream) {
      const lines = (carry + decoder.write(chunk as Buffer)).split('\n');
      carry = lines.pop()!;
      for (const line of lines) yield line.split('\t').map(unescapeCopyField);
    }
  } finally {
    // A consumer that stopped early leaves the client in the middle of the COPY: closed, not pooled (`copyOut`).
    const readToEnd = stream.readableEnded;
    stream.destroy();
    releaseClient(client, !readToEnd);
  }
}

export interface HistoryRow {
  userId: string;
  itemId: string;
  type: EventType;
  timestampMs: number;
  /**
   * false for purchases older than the newest `perUser` events or than `sinceMs`: they only belong in the
   * purchased set
   */
  inHistory: boolean;
}

const sqlTimestamp = (ms: number) => `'${new Date(ms).toISOString()}'::timestamptz`;

/**
 * Per user with personalization consent and events of `types` since `sinceMs`, grouped by user: their newest
 * `perUser` events of `types` since `sinceMs`, newest first (events of one millisecond by event id, the greater
 * first: Postgres does not keep the order they arrived in), then every purchase of theirs before it. The purchased
 * set is all of a user's purchases (ingest adds to it and never trims it): rebuilt from the span alone, it would
 * offer a user who browsed this month what they bought before it again.
 */
export async function* readRecentHistories(
  pool: Pool,
  sinceMs: number,
  perUser: number,
  types: Iterable<string>,
): AsyncGenerator<HistoryRow> {
  const since = sqlTimestamp(sinceMs);
  // Written into the COPY's text (it takes no parameters): only the known type names.
  const typeList = [...types]
    .map((type) => {
      if (!(EVENT_TYPES as readonly string[]).includes(type)) throw new RangeError(`no event type ${type}`);
      return `'${type}'`;
    })
    .join(', ');
  const sql = `SELECT user_id, item_id, type, (extract(epoch FROM ts) * 1000)::bigint, recent AND rn <= ${Math.floor(perUser)}
    FROM (SELECT e.user_id, e.item_id, e.type, e.ts, e.ts >= ${since} AS recent,
                 row_number() OVER (PARTITION BY e.user_id, e.ts >= ${since} ORDER BY e.ts DESC, e.event_id DESC)
                   AS rn
          FROM events e
          WHERE ((e.ts >= ${since} AND e.type IN (${typeList})) OR e.type = 'purchase')
            AND e.user_id IN (SELECT user_id FROM events WHERE ts >= ${since} AND type IN (${typeList}))
            AND left(e.user_id, ${ANONYMOUS_USER_PREFIX.length}) <> '${ANONYMOUS_USER_PREFIX}'
            AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = e.user_id AND NOT u.consent_personalization)
         ) ranked
    WHERE (recent AND rn <= ${Math.floor(perUser)}) OR type = 'purchase'
    ORDER BY user_id, recent DESC, rn`;
  for await (const [userId, itemId, type, ms, inHistory] of copyRowsOut(pool, sql)) {
    yield {
      userId: userId!,
      itemId: itemId!,
      type: type as EventType,
      timestampMs: Number(ms),
      inHistory: inHistory === 't',
    };
  }
}

/** One event of `readEventsInWindow`: its user (an anonymous event's own id), item, type and time. */
export interface WindowEvent {
  userId: string;
  itemId: string;
  type: string;
  timestampMs: number;
}

/** Every event of a window, streamed out of Postgres with COPY TO, never held in memory whole. */
export async function* readEventsInWindow(pool: Pool, window: EventWindow): AsyncGenerator<WindowEvent> {
  const { from, to } = windowBounds(window);
  const sql = `SELECT user_id, item_id, type, (extract(epoch FROM ts) * 1000)::bigint
    FROM events WHERE ts >= '${from}' AND ts <= '${to}'`;
  for await (const [userId, itemId, type, ms] of copyRowsOut(pool, sql))
    yield { userId: userId!, itemId: itemId!, type: type!, timestampMs: Number(ms) };
}

export interface HourlyItemWeight {
  epochHour: number;
  itemId: string;
  /** Σ over the hour's shoppers of the item of their heaviest event type's weight */
  weight: number;
}

/**
 * Trending weight per (hour, item) since `sinceMs`, for rebuilding the trending counters: each shopper counts once
 * per item and hour, by the weight (`weightOf`) of their heaviest event type, as ingest counts them live. An
 * anonymous event has a user id of its own, so each counts.
 */
export async function* readHourlyItemWeights(
  pool: Pool,
  sinceMs: number,
  weightOf: (type: EventType) => number,
): AsyncGenerator<HourlyItemWeight> {
  const weights = EVENT_TYPES.map((type) => [type, weightOf(type)] as const).filter(([, w]) => w > 0);
  if (weights.length === 0) return;
  const weightSql = `CASE type ${weights.map(([type, w]) => `WHEN '${type}' THEN ${w}`).join(' ')} END`;
  const sql = `SELECT hour, item_id, sum(weight) FROM (
      SELECT floor(extract(epoch FROM ts) / 3600)::bigint AS hour, item_id, max(${weightSql}) AS weight
      FROM events WHERE ts >= ${sqlTimestamp(sinceMs)} AND type IN (${weights.map(([type]) => `'${type}'`).join(', ')})
      GROUP BY 1, 2, user_id
    ) per_shopper GROUP BY 1, 2`;
  for await (const [hour, itemId, weight] of copyRowsOut(pool, sql)) {
    yield { epochHour: Number(hour), itemId: itemId!, weight: Number(weight) };
  }
}

/**
 * Detaches a user's stored events from them (after they withdraw personalization consent): each gets a fresh
 * anonymous user id and loses its session, recommendation and properties. Returns the number of events.
 */
export async function anonymiseUserEvents(db: Queryable, userId: string): Promise<number> {
  const result = await db.query(
    `UPDATE events SET user_id = $2 || gen_random_uuid(), session_id = NULL, recommendation_id = NULL,
       properties = NULL
     WHERE user_id = $1`,
    [userId, ANONYMOUS_USER_PREFIX],
  );
  return result.rowCount ?? 0;
}

/**
 * A plain table with the columns and indexes of `events` (not partitioned, no idempotency): the raw-COPY
 * baseline bench:ingest compares the ingest path against.
 */
export async function createEventsShapedTable(db: Queryable, name: string): Promise<void> {
  const table = `"${name.replace(/"/g, '""')}"`;
  await db.query(`CREATE TABLE ${table} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
  await db.query(`CREATE INDEX ON ${table} (ts)`);
  await db.query(`CREATE INDEX ON ${table} (user_id, item_id, ts)`);
}

/**
 * The simplest durable, idempotent store of events a user could write: five columns, a primary key on the id.
 * bench:ingest's second baseline.
 */
export async function createPlainEventsTable(db: Queryable, name: string): Promise<void> {
  await db.query(
    `CREATE TABLE "${name.replace(/"/g, '""')}" (event_id text PRIMARY KEY, user_id text NOT NULL,
       item_id text NOT NULL, type text NOT NULL, ts timestamptz NOT NULL)`,
  );
}

/** COPY of events' id, user, item, type and time into a table made by `createPlainEventsTable`. */
export async function copyEventsIntoPlainTable(
  pool: Pool,
  name: string,
  events: readonly StoredEvent[],
): Promise<void> {
  const client = await connectClient(pool);
  try {
    await copyRowsIn(
      client,
      `"${name.replace(/"/g, '""')}" (event_id, user_id, item_id, type, ts)`,
      events.map((e) => [e.eventId, e.userId, e.itemId, e.type, isoOf(e.timestampMs)]),
    );
  } finally {
    releaseClient(client);
  }
}

/** COPY of events straight into a table of the events' shape: no idempotency, no partition routing. */
export async function copyEventsIntoTable(
  pool: Pool,
  name: string,
  events: readonly StoredEvent[],
): Promise<void> {
  const client = await connectClient(pool);
  try {
    await copyRowsIn(client, `"${name.replace(/"/g, '""')}" (${EVENT_COLUMNS})`, events.map(eventValues));
  } finally {
    releaseClient(client);
  }
}
