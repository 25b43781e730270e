import {
  ANSWER_TIME_CHARS,
  type AnswerDimensions,
  decodeAnswerFields,
  MAX_EXTERNAL_ID_LENGTH,
  UNKNOWN_ANSWER,
} from '@elevens/domain';
import type { Pool, Queryable } from './pool';
import { withQueryTimeout, withTransaction } from './pool';
import {
  type AnswerCounts,
  addRollups,
  countsOf,
  firstWholeRollupHour,
  foldIntoRollups,
  type RollupCountColumns,
  type RollupRow,
  readPruneCutOff,
} from './rollups';

export const DEFAULT_ATTRIBUTION_WINDOW_MS = 24 * 3_600_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The part of an answer id its dimensions depend on (packages/domain answer-id.ts): `r1.`/`p1.` (`push`), then
 * in `fields` the payload after its `ANSWER_TIME_CHARS` characters of answer time, whole base64 groups, so the
 * fields decode on their own (`decodeAnswerFields`). Ids that decode the same share this key, so the worker
 * groups per dimension set instead of per answer and decodes each set once (a step's events name thousands of
 * answers but a few dozen dimension sets). An id of any other shape gets `?` (decodes to nothing known; at most
 * two groups an hour); NULL (no answer) stays NULL. The shape, `^[rp]1[.][A-Za-z0-9_-]+[.][A-Za-z0-9_-]+$` at
 * most 128 characters, is checked here per event because the time and the nonce differ between ids of one key;
 * the fields' own characters are checked once per key when decoded. The fields are cut as bytes (`textsend`:
 * a checked id is ASCII, the same bytes in any client encoding) because `substr` on text first counts the
 * characters of the whole id; that, `strpos`, `length` and a `min(answer_id)` per group cost more than the regex.
 */
const ANSWER_KEY = (id: string) => `
  starts_with(${id}, 'p') AS push,
  CASE WHEN ${id} IS NULL THEN NULL
       WHEN octet_length(${id}) <= ${MAX_EXTERNAL_ID_LENGTH} AND ${id} ~ '^[rp]1[.][A-Za-z0-9_-]+[.][A-Za-z0-9_-]+$'
         THEN substr(textsend(split_part(${id}, '.', 2)), ${ANSWER_TIME_CHARS + 1})
       ELSE '?'::bytea END AS fields`;

/**
 * Each event the WHERE clause (on `f`) selects, with its hour and the answer it is attributed to. An event is
 * attributed to its own `recommendation_id`; a click, cart or purchase without one to the last impression or
 * click of the same user and item carrying one within the window before it (last touch: latest `ts`, then
 * greatest event id), among the touches received no later than the event itself, so the answer never depends on
 * when the worker ran. `$1` is the window in milliseconds. The last touch is a subquery under CASE, so only the
 * events that need one look it up (`events_user_item_ts_idx`); OFFSET 0 keeps the subquery from being inlined
 * into each use of `answer_id`. `date_bin` from the epoch is `date_trunc('hour', ts, 'UTC')` in integer
 * arithmetic.
 */
const eventAnswersSql = (where: string) => `
    SELECT date_bin('1 hour', f.ts, timestamptz 'epoch') AS hour,
           COALESCE(f.recommendation_id, CASE WHEN f.type IN ('click', 'cart', 'purchase') THEN (
             SELECT t.recommendation_id FROM events t
             WHERE t.user_id = f.user_id AND t.item_id = f.item_id
               AND t.ts <= f.ts AND t.ts > f.ts - $1::bigint * interval '1 millisecond'
               AND t.type IN ('impression', 'click') AND t.recommendation_id IS NOT NULL
               AND t.received_at <= f.received_at
             ORDER BY t.ts DESC, t.event_id COLLATE "C" DESC
             LIMIT 1) END) AS answer_id,
           f.user_id, f.type, f.quantity, f.price
    FROM events f
    WHERE ${where}
    OFFSET 0`;

/** Per hour of event time and per answer dimension set (`ANSWER_KEY`), the counts of the events `eventAnswersSql` selects. */
const attributedSql = (where: string) => `
  SELECT hour, ${ANSWER_KEY('answer_id')},
         count(*) AS events,
         count(*) FILTER (WHERE type = 'impression') AS impressions,
         count(*) FILTER (WHERE type = 'click') AS clicks,
         count(*) FILTER (WHERE type = 'cart') AS carts,
         count(*) FILTER (WHERE type = 'purchase') AS purchases,
         COALESCE(sum(COALESCE(quantity, 1)) FILTER (WHERE type = 'purchase'), 0) AS units,
         COALESCE(sum(price * COALESCE(quantity, 1)) FILTER (WHERE type = 'purchase'), 0) AS revenue,
         COALESCE(sum(((price * COALESCE(quantity, 1)) ^ 2)::float8) FILTER (WHERE type = 'purchase'), 0)
           AS revenue_sq
  FROM (${eventAnswersSql(where)}
  ) attributed
  GROUP BY hour, push, fields`;

/**
 * Adds to `attribution_user_rollups` the impressions, clicks, purchases and revenue per hour and user of the
 * events `eventAnswersSql` selects that are attributed to the recommendation answers of the keys in `$k`
 * (`ANSWER_KEY`'s fields), each key with its experiment and arm (decoded in Node, `answerOf`): SQL never parses
 * an answer id's fields. Keys of one experiment and arm (two model versions) fold into one row per user and
 * hour, so the upsert touches each row once. `k` is the number of the first of the three key parameters.
 */
const addUserRollupsSql = (where: string, k: number) => `
  INSERT INTO attribution_user_rollups AS r
    (experiment, hour, arm, user_id, impressions, clicks, purchases, revenue)
  SELECT keys.experiment, a.hour, keys.arm, a.user_id,
         count(*) FILTER (WHERE a.type = 'impression'),
         count(*) FILTER (WHERE a.type = 'click'),
         count(*) FILTER (WHERE a.type = 'purchase'),
         COALESCE(sum(a.price * COALESCE(a.quantity, 1)) FILTER (WHERE a.type = 'purchase'), 0)
  FROM (SELECT hour, user_id, type, quantity, price, ${ANSWER_KEY('answer_id')}
        FROM (${eventAnswersSql(`${where} AND f.type IN ('impression', 'click', 'purchase')`)}
        ) e) a
  JOIN unnest($${k}::bytea[], $${k + 1}::text[], $${k + 2}::text[]) AS keys(fields, experiment, arm)
    ON a.push IS FALSE AND a.fields = keys.fields
  GROUP BY keys.experiment, a.hour, keys.arm, a.user_id
  ON CONFLICT (experiment, hour, arm, user_id) DO UPDATE SET
    impressions = r.impressions + EXCLUDED.impressions,
    clicks = r.clicks + EXCLUDED.clicks,
    purchases = r.purchases + EXCLUDED.purchases,
    revenue = r.revenue + EXCLUDED.revenue`;

interface AttributedRow extends RollupCountColumns {
  hour: Date;
  push: boolean | null;
  fields: Buffer | null;
}

/**
 * Settings for a transaction that runs `attributedSql`, in one round trip. JIT off: the lookups per event make
 * the estimated cost pass the JIT thresholds, and compiling with inlining and optimisation took seconds of CPU
 * per step, longer than the query. Hash aggregation in more memory: the planner cannot know that thousands of
 * answers fold into a few dozen groups, and within 4 MB it sorted every row (spilling to disk). Sorting off: the
 * estimated lookups (charged to every event, though only clicks, carts and purchases without an id run one)
 * dwarf the aggregate, so sorting and hashing cost the same to within the planner's 1 % and it kept the sorted
 * plan, which took a third longer per step. The last-touch subquery still sorts its few rows: it has no
 * other plan.
 */
async function prepareAttribution(client: Queryable): Promise<void> {
  await client.query("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; SET LOCAL enable_sort = off");
}

/** The dimensions of an `ANSWER_KEY`; null: attributed to no answer. */
function answerOf({ push, fields }: AttributedRow): AnswerDimensions | null {
  if (fields === null) return null;
  const encoded = fields.toString('latin1');
  return encoded === '?' ? UNKNOWN_ANSWER : decodeAnswerFields(push ? 'push' : 'recommendation', encoded);
}

/** An `ANSWER_KEY` of a recommendation answer that names an experiment, with its experiment and arm. */
interface ExperimentAnswerKey {
  fields: Buffer;
  experiment: string;
  arm: string;
}

interface Attributed {
  counts: AnswerCounts[];
  /** the keys among them whose events also go to the per-user roll-ups (`addUserRollups`) */
  experimentKeys: ExperimentAnswerKey[];
}

async function attributed(
  db: Queryable,
  where: string,
  parameters: unknown[],
  queryTimeoutMs?: number,
): Promise<Attributed> {
  const text = attributedSql(where);
  const { rows } = await db.query<AttributedRow>(
    queryTimeoutMs === undefined
      ? { text, values: parameters }
      : withQueryTimeout(text, parameters, queryTimeoutMs),
  );
  const experimentKeys = new Map<string, ExperimentAnswerKey>();
  const counts = rows.map((r) => {
    const answer = answerOf(r);
    if (answer?.kind === 'recommendation' && answer.experiment !== null && r.fields !== null)
      experimentKeys.set(r.fields.toString('latin1'), {
        fields: r.fields,
        experiment: answer.experiment,
        arm: answer.arm ?? '',
      });
    return { hourMs: r.hour.getTime(), answer, ...countsOf(r) };
  });
  return { counts, experimentKeys: [...experimentKeys.values()] };
}

/**
 * The per-user roll-ups' lock (a transaction-scoped advisory lock): a transaction that writes them takes it
 * exclusively before the statement that reads the events for them and holds it to its commit; an erasure or a
 * prune takes it shared before deleting rows (`awaitUserRollupWriters`). A read that began before an erasure
 * committed would otherwise re-insert the erased user's rows after the erasure deleted them: the writer's
 * commit came later. So an erasure waits only for the per-user pass of a step already writing (not the whole
 * step, nor a step without an experiment), erasures do not wait for each other, and a writer that comes second
 * reads the events after the erasure committed.
 */
const USER_ROLLUPS_LOCK_KEY = "hashtext('elevens.attribution_user_rollups')";

/**
 * Waits for the transaction writing per-user roll-ups, if any, to commit, and keeps any other from starting
 * until this transaction ends (`USER_ROLLUPS_LOCK_KEY`). Call it inside the transaction that deletes rows,
 * after the events those rows came from are deleted.
 */
export async function awaitUserRollupWriters(client: Queryable): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock_shared(${USER_ROLLUPS_LOCK_KEY})`);
}

/**
 * Deletes a user's per-user roll-ups, in the caller's transaction (an erasure, a withdrawal of personalization
 * consent) after it detached or deleted their events: once a writer already under way has committed
 * (`awaitUserRollupWriters`), so no row written from events read before comes back.
 */
export async function forgetUserRollups(client: Queryable, userId: string): Promise<void> {
  await awaitUserRollupWriters(client);
  await client.query('DELETE FROM attribution_user_rollups WHERE user_id = $1', [userId]);
}

/**
 * The experiments the per-user roll-ups hold: a loose index scan of the primary key, one probe per experiment
 * (a few dozen), where `DISTINCT` would read every row.
 */
const USER_ROLLUP_EXPERIMENTS = `ARRAY(
  WITH RECURSIVE e AS (
    (SELECT experiment FROM attribution_user_rollups ORDER BY experiment LIMIT 1)
    UNION ALL
    SELECT (SELECT u.experiment FROM attribution_user_rollups u WHERE u.experiment > e.experiment
            ORDER BY u.experiment LIMIT 1)
    FROM e WHERE e.experiment IS NOT NULL)
  SELECT experiment FROM e WHERE experiment IS NOT NULL)`;

/**
 * Deletes the per-user roll-ups of the hours [from, to) (from: all hours before `toMs` when left out); returns
 * how many. Their primary key leads with the experiment, then the hour: naming every experiment makes the hours
 * of each one range of it, so the delete reads only the rows it deletes, and no index on the hour costs every
 * row the worker writes an entry.
 */
export async function deleteUserRollups(
  db: Queryable,
  hours: { fromMs?: number; toMs: number },
): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM attribution_user_rollups
     WHERE experiment = ANY(${USER_ROLLUP_EXPERIMENTS}) AND hour < $1
       ${hours.fromMs === undefined ? '' : 'AND hour >= $2'}`,
    hours.fromMs === undefined ? [new Date(hours.toMs)] : [new Date(hours.toMs), new Date(hours.fromMs)],
  );
  return rowCount ?? 0;
}

/**
 * `addUserRollupsSql` for the events `where` selects (with `parameters`) attributed to `keys`: a second pass
 * over them, run only when some answer they were attributed to names an experiment, under the per-user roll-ups'
 * lock (`USER_ROLLUPS_LOCK_KEY`), taken before the pass reads the events. Returns the rows written.
 */
async function addUserRollups(
  db: Queryable,
  where: string,
  parameters: unknown[],
  keys: readonly ExperimentAnswerKey[],
  queryTimeoutMs?: number,
): Promise<number> {
  if (keys.length === 0) return 0;
  const lock = `SELECT pg_advisory_xact_lock(${USER_ROLLUPS_LOCK_KEY})`;
  await db.query(queryTimeoutMs === undefined ? lock : withQueryTimeout(lock, [], queryTimeoutMs));
  const text = addUserRollupsSql(where, parameters.length + 1);
  const values = [
    ...parameters,
    keys.map((k) => k.fields),
    keys.map((k) => k.experiment),
    keys.map((k) => k.arm),
  ];
  const result = await db.query(
    queryTimeoutMs === undefined ? { text, values } : withQueryTimeout(text, values, queryTimeoutMs),
  );
  return result.rowCount ?? 0;
}

/**
 * The instant before which every event that will ever be stored is already committed: `safetyLagMs` before
 * now, and never later than the start of any transaction open in this database. `received_at` defaults to
 * `now()`, its transaction's start, so an open transaction may still commit events received as early as its
 * start; one that starts later receives them later than this instant. The lag covers the instant between a
 * transaction taking its start time and publishing it in pg_stat_activity. Any long transaction (an import, a
 * build reading the events, an idle session in a transaction) holds the roll-ups back, never makes them wrong.
 */
export async function safeWatermark(db: Queryable, safetyLagMs: number): Promise<Date> {
  const { rows } = await db.query<{ safe: Date }>(
    `SELECT LEAST(now() - $1::bigint * interval '1 millisecond',
                  (SELECT min(xact_start) FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()
                     AND backend_type = 'client backend' AND xact_start IS NOT NULL)) AS safe`,
    [safetyLagMs],
  );
  return rows[0]!.safe;
}

export interface AttributionStepOptions {
  /** last-touch window for events without a recommendation id */
  windowMs: number;
  /** see `safeWatermark` */
  safetyLagMs: number;
  /** at most this span of receive time per step, so catching up after a pause holds no huge batch */
  maxSpanMs: number;
}

export interface AttributionStep {
  fromMs: number;
  toMs: number;
  /** roll-up rows added to */
  rows: number;
  /** events attributed */
  events: number;
  /** true when events received before the safe instant remain: run another step now */
  behind: boolean;
}

/**
 * A step's own bounds, above the serving pool's (plugin.ts): its statements grow with the traffic of its span (5
 * minutes of festival peak is millions of events), and it waits for another worker's whole step; a stalled
 * connection still does not keep its transaction, and the watermark row's lock, for ever.
 */
const STEP_STATEMENT_TIMEOUT_MS = 10 * 60_000;
const STEP_QUERY_TIMEOUT_MS = STEP_STATEMENT_TIMEOUT_MS + 30_000;

/**
 * Adds the events received since the watermark (up to a safe instant) to the roll-ups, those of answers naming
 * an experiment also to the per-user roll-ups, and advances the watermark, in one transaction: a step counts its
 * events once or not at all, so a crash or a second worker never double counts. Workers in several processes
 * take turns through the state row's lock.
 */
export async function attributeNewEvents(
  pool: Pool,
  options: AttributionStepOptions,
): Promise<AttributionStep> {
  const safe = await safeWatermark(pool, options.safetyLagMs);
  await summariseNewRanges(pool);
  return withTransaction(pool, async (client) => {
    // Without statistics on the new rows the planner scans whole partitions (in parallel); the BRIN index
    // reads only the ranges received since the watermark.
    await client.query('SET LOCAL enable_seqscan = off; SET LOCAL max_parallel_workers_per_gather = 0');
    await client.query(`SET LOCAL statement_timeout = ${STEP_STATEMENT_TIMEOUT_MS}`);
    await prepareAttribution(client);
    // A second worker waits here for the first one's step, then carries on from the watermark it left.
    const { rows: state } = await client.query<{ watermark: Date }>(
      withQueryTimeout('SELECT watermark FROM attribution_state FOR UPDATE', [], STEP_QUERY_TIMEOUT_MS),
    );
    const from = state[0]!.watermark;
    if (safe.getTime() <= from.getTime())
      return { fromMs: from.getTime(), toMs: from.getTime(), rows: 0, events: 0, behind: false };
    const to = new Date(Math.min(safe.getTime(), from.getTime() + options.maxSpanMs));
    const received = 'f.received_at >= $2 AND f.received_at < $3';
    const parameters = [options.windowMs, from, to];
    const { counts, experimentKeys } = await attributed(client, received, parameters, STEP_QUERY_TIMEOUT_MS);
    const rows = await addRollups(client, foldIntoRollups(counts).values(), STEP_QUERY_TIMEOUT_MS);
    await addUserRollups(client, received, parameters, experimentKeys, STEP_QUERY_TIMEOUT_MS);
    await client.query('UPDATE attribution_state SET watermark = $1, updated_at = now()', [to]);
    return {
      fromMs: from.getTime(),
      toMs: to.getTime(),
      rows,
      events: counts.reduce((sum, c) => sum + c.events, 0),
      behind: to.getTime() < safe.getTime(),
    };
  });
}

const LOCK_NOT_AVAILABLE = '55P03';
/** Pages per BRIN range (the migration's pages_per_range). */
const PAGES_PER_RANGE = 32;
/**
 * Ranges left unsummarised at the end of a partition: Postgres extends a busy table by up to 512 pages ahead
 * of the rows, and a row landing in a summarised range makes its insert update the summary.
 */
const TAIL_RANGES = 512 / PAGES_PER_RANGE;
/** Ranges summarised per step and partition: 2,048 pages, far more than a second of peak ingest fills. */
const RANGES_PER_STEP = 64;

/**
 * Summarises the complete BRIN ranges of `received_at` written since the last step, in every partition, but
 * the newest ones that inserts may still fill. Unsummarised ranges match any condition, so without this a step
 * would read every page written since autovacuum last summarised (up to a minute of peak traffic) rather than
 * those since its watermark. A vacuum holding a partition makes this give up after 200 ms: the step is then
 * slower, never wrong.
 */
async function summariseNewRanges(pool: Pool): Promise<void> {
  try {
    await withTransaction(pool, async (client) => {
      await client.query("SET LOCAL lock_timeout = '200ms'");
      await client.query(
        `SELECT brin_summarize_range(ranges.index, r * $1::bigint)
         FROM (SELECT i.inhrelid AS index,
                      pg_relation_size(x.indrelid) / current_setting('block_size')::bigint / $1 - $2 AS done
               FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid
               WHERE i.inhparent = 'events_received_at_brin'::regclass) ranges,
              generate_series(greatest(ranges.done - $3, 0), ranges.done - 1) r`,
        [PAGES_PER_RANGE, TAIL_RANGES, RANGES_PER_STEP],
      );
    });
  } catch (error) {
    if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw error;
  }
}

/** The attribution roll-ups as the ingest worker writes them from the event log. */
export class RollupWriter {
  constructor(private readonly pool: Pool) {}

  /** `attributeNewEvents`: rolls up the events received since the watermark, up to a safe instant. */
  step(options: AttributionStepOptions): Promise<AttributionStep> {
    return attributeNewEvents(this.pool, options);
  }
}

export interface RebuildWindow {
  /**
   * first hour rebuilt (floored to the hour); default: the oldest event's, or after a prune the first hour it
   * left whole if that is later (`RollupsPrunedHours`)
   */
  fromMs?: number;
  /** end (ceiled to the hour, exclusive); default: after the newest event (no event: the start, rebuilding none) */
  toMs?: number;
  windowMs: number;
}

export interface RebuildReport {
  fromMs: number;
  toMs: number;
  rows: number;
  events: number;
  watermarkMs: number | null;
}

/**
 * A rebuild refused: hours of its window before the oldest event still stored (the hour holding it) have
 * roll-ups. Those hours' events were pruned (or erased): their roll-ups are all that is left of them, and a
 * rebuild would replace them with nothing.
 */
export class RollupsOutliveEvents extends Error {
  override name = 'RollupsOutliveEvents';
  constructor(
    /** first and last hour of the window holding roll-ups and no events */
    readonly firstHourMs: number,
    readonly lastHourMs: number,
    /** the hour of the oldest event stored, where a rebuild may start; null when no event is */
    readonly oldestEventHourMs: number | null,
  ) {
    super(
      `the roll-ups of ${new Date(firstHourMs).toISOString()} – ${new Date(lastHourMs + HOUR_MS).toISOString()} ` +
        'outlive their events (pruned): a rebuild would replace them with nothing',
    );
  }
}

/**
 * A rebuild refused: its window reaches into the hours a prune left partial (`firstWholeRollupHour`: the hour
 * holding the cut-off and the attribution window after it). Their roll-ups, counted before the prune, are whole;
 * recomputed from the events left they would count less. Refused rather than narrowed, as `RollupsOutliveEvents`.
 */
export class RollupsPrunedHours extends Error {
  override name = 'RollupsPrunedHours';
  constructor(
    /** every event before this instant may have been pruned */
    readonly cutOffMs: number,
    /** the first hour a rebuild may start at */
    readonly firstWholeHourMs: number,
    /** 'from': the start given is before that hour; 'to': none given, and the end given is at or before it */
    readonly reachedBy: 'from' | 'to',
  ) {
    super(
      `events before ${new Date(cutOffMs).toISOString()} were pruned: the roll-ups of the hours before ` +
        `${new Date(firstWholeHourMs).toISOString()} cannot be recomputed whole from the events left`,
    );
  }
}

/**
 * Locks out a prune recording its cut-off (an insert or update of `event_prune_cut_off`, which comes before it
 * deletes anything) until this transaction ends, then reads the cut-off: a prune either recorded its cut-off
 * before, and the rebuild reads it, or deletes its events after the rebuild committed.
 */
async function lockPruneCutOff(client: Queryable): Promise<number | null> {
  await client.query('LOCK TABLE event_prune_cut_off IN SHARE MODE');
  return readPruneCutOff(client);
}

/**
 * The first hour to rebuild (not floored): `fromMs` as given, or by default the oldest event's; after a prune
 * (`cutOffMs`), never before the first hour it left whole (`RollupsPrunedHours`).
 */
function rebuildStart(window: RebuildWindow, oldestMs: number | null, cutOffMs: number | null): number {
  if (cutOffMs === null) return window.fromMs ?? oldestMs ?? 0;
  const firstWholeHourMs = firstWholeRollupHour(cutOffMs, window.windowMs);
  if (window.fromMs !== undefined) {
    if (Math.floor(window.fromMs / HOUR_MS) * HOUR_MS < firstWholeHourMs)
      throw new RollupsPrunedHours(cutOffMs, firstWholeHourMs, 'from');
    return window.fromMs;
  }
  if (oldestMs !== null && oldestMs >= firstWholeHourMs) return oldestMs;
  if (window.toMs !== undefined && window.toMs <= firstWholeHourMs)
    throw new RollupsPrunedHours(cutOffMs, firstWholeHourMs, 'to');
  return firstWholeHourMs;
}

/**
 * Recomputes the roll-ups and the per-user roll-ups of the hours [from, to) from the raw events, replacing the
 * stored ones, in one transaction. It counts exactly the events the worker has counted (received before the watermark, which it
 * holds locked meanwhile, so no step runs), so the worker carries on from there without a gap or a double
 * count. A day of events is read at a time. A window reaching into the hours a prune left partial is refused
 * (RollupsPrunedHours), and so is one reaching back past the oldest event stored into hours that hold roll-ups
 * (RollupsOutliveEvents), changing nothing; a prune waits for the rebuild under way (`lockPruneCutOff`).
 */
export async function rebuildRollups(pool: Pool, window: RebuildWindow): Promise<RebuildReport> {
  return withTransaction(pool, async (client) => {
    const { rows: state } = await client.query<{ watermark: Date | number }>(
      'SELECT watermark FROM attribution_state FOR UPDATE',
    );
    const watermark = state[0]!.watermark;
    const cutOffMs = await lockPruneCutOff(client);
    await prepareAttribution(client);
    const { rows: span } = await client.query<{ oldest: Date | null; newest: Date | null }>(
      'SELECT min(ts) AS oldest, max(ts) AS newest FROM events',
    );
    const oldest = span[0]?.oldest ?? null;
    const newest = span[0]?.newest ?? null;
    const fromMs = Math.floor(rebuildStart(window, oldest?.getTime() ?? null, cutOffMs) / HOUR_MS) * HOUR_MS;
    // An end given is exclusive: on the hour, the hour starting there is not rebuilt. By default the hour of
    // the newest event is; with no event from the start on, the window is empty rather than backwards.
    const newestEndMs = newest === null ? fromMs : (Math.floor(newest.getTime() / HOUR_MS) + 1) * HOUR_MS;
    const toMs = Math.max(
      fromMs,
      window.toMs === undefined ? newestEndMs : Math.ceil(window.toMs / HOUR_MS) * HOUR_MS,
    );
    const oldestHourMs = oldest === null ? null : Math.floor(oldest.getTime() / HOUR_MS) * HOUR_MS;
    const eventlessToMs = Math.min(toMs, oldestHourMs ?? toMs);
    if (fromMs < eventlessToMs) {
      const { rows: kept } = await client.query<{ first: Date | null; last: Date | null }>(
        `SELECT min(hour) AS first, max(hour) AS last FROM attribution_rollups
         WHERE hour >= to_timestamp($1::double precision / 1000) AND hour < to_timestamp($2::double precision / 1000)`,
        [fromMs, eventlessToMs],
      );
      const { first, last } = kept[0]!;
      if (first !== null && last !== null)
        throw new RollupsOutliveEvents(first.getTime(), last.getTime(), oldestHourMs);
    }
    await client.query(
      `DELETE FROM attribution_rollups
       WHERE hour >= to_timestamp($1::double precision / 1000) AND hour < to_timestamp($2::double precision / 1000)`,
      [fromMs, toMs],
    );
    await deleteUserRollups(client, { fromMs, toMs });
    let rows = 0;
    let events = 0;
    if (watermark instanceof Date) {
      for (let dayMs = fromMs; dayMs < toMs; dayMs += DAY_MS) {
        const endMs = Math.min(dayMs + DAY_MS, toMs);
        const day = `f.ts >= to_timestamp($2::double precision / 1000) AND f.ts < to_timestamp($3::double precision / 1000)
           AND f.received_at < $4`;
        const parameters = [window.windowMs, dayMs, endMs, watermark];
        const { counts, experimentKeys } = await attributed(client, day, parameters);
        const folded: Map<string, RollupRow> = foldIntoRollups(counts);
        rows += await addRollups(client, folded.values());
        await addUserRollups(client, day, parameters, experimentKeys);
        events += counts.reduce((sum, c) => sum + c.events, 0);
      }
    }
    return {
      fromMs,
      toMs,
      rows,
      events,
      watermarkMs: watermark instanceof Date ? watermark.getTime() : null,
    };
  });
}
