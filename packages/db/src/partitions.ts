import { setTimeout as sleep } from 'node:timers/promises';
import { awaitUserRollupWriters, deleteUserRollups } from './attribution';
import { connectClient, type Pool, type Queryable, releaseClient, rollBack } from './pool';

const HOUR_MS = 3_600_000;

/**
 * Months before this get no partition of their own: a client clock reset to 1970 should not create one
 * partition per stray month; such rows land in the default partition.
 */
export const OLDEST_PARTITIONED_MS = Date.UTC(1990, 0, 1);

/** Start and end (epoch ms) of the UTC month holding `ms`. */
function monthOf(ms: number): { fromMs: number; toMs: number } {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth();
  return { fromMs: Date.UTC(year, month, 1), toMs: Date.UTC(year, month + 1, 1) };
}

/** Per pool (so per database), the start (epoch ms) of the months whose partition this process made sure of. */
const knownMonths = new WeakMap<Pool, Set<number>>();

function knownMonthsOf(pool: Pool): Set<number> {
  let months = knownMonths.get(pool);
  if (!months) {
    months = new Set();
    knownMonths.set(pool, months);
  }
  return months;
}

/** Creates the monthly partitions the events' timestamps need (imports of old data get theirs on demand). */
export async function ensureEventPartitionsFor(
  pool: Pool,
  events: readonly { timestampMs: number }[],
): Promise<void> {
  const known = knownMonthsOf(pool);
  const missing = new Set<number>();
  // Events mostly share a month: a range check skips the date arithmetic for all but the first of each run.
  let checkedFromMs = 0;
  let checkedToMs = 0;
  for (const e of events) {
    const ms = e.timestampMs;
    if (ms < OLDEST_PARTITIONED_MS || (ms >= checkedFromMs && ms < checkedToMs)) continue;
    const { fromMs, toMs } = monthOf(ms);
    if (!known.has(fromMs)) missing.add(fromMs);
    checkedFromMs = fromMs;
    checkedToMs = toMs;
  }
  for (const fromMs of missing) {
    await ensureMonthPartition(pool, fromMs);
    known.add(fromMs);
  }
}

/**
 * The partitions of the UTC month holding `nowMs` and of the next `monthsAhead`; ingest runs this at start-up and
 * hourly. Counted here, in UTC, so a test can name the instant (`elevens_ensure_event_partitions` reads now()).
 */
export async function ensureEventPartitionsAhead(
  db: Queryable,
  monthsAhead = 2,
  nowMs = Date.now(),
): Promise<void> {
  const now = new Date(nowMs);
  for (let ahead = 0; ahead <= monthsAhead; ahead++) {
    await ensureMonthPartition(db, Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + ahead, 1));
  }
}

/** Creates the partition of the UTC month starting at `fromMs` when it is missing (outside a transaction). */
async function ensureMonthPartition(db: Queryable, fromMs: number): Promise<void> {
  await retryingConcurrentCreation(1, () =>
    db.query('SELECT elevens_ensure_event_partition($1)', [new Date(fromMs).toISOString()]),
  );
}

const DUPLICATE_TABLE = '42P07';

/**
 * Runs a partition-creating call again when another session created one of its partitions first. The SQL
 * function checks for the table again after taking its advisory lock, but that check reads the session's
 * catalog cache, which an advisory lock does not refresh: it can miss the table the other session has just
 * committed and fail with duplicate_table. A new statement starts from a fresh cache and sees it. Each retry
 * follows one more partition made by someone else, so `partitions` retries suffice.
 */
async function retryingConcurrentCreation(partitions: number, create: () => Promise<unknown>): Promise<void> {
  for (let retries = 0; ; retries++) {
    try {
      await create();
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== DUPLICATE_TABLE || retries >= partitions) throw error;
    }
  }
}

export interface EventPartition {
  name: string;
  /** inclusive, epoch ms: the partition's own bound */
  fromMs: number;
  /** exclusive, epoch ms: the partition's own bound */
  toMs: number;
}

/**
 * The monthly partitions (`events_YYYY_MM`), oldest first, with the bounds Postgres holds for them; the default
 * partition is not listed. Read from the catalog, not the name: 0001 added the month in the session's time zone,
 * so a partition it made west of UTC ends off its UTC month (November in Los Angeles at 01:00 UTC on December 1),
 * and 0012 left those bounds as they were. The bounds print in the session's time zone with their offset and
 * read back as the same instants.
 */
export async function listEventPartitions(db: Queryable): Promise<EventPartition[]> {
  const { rows } = await db.query<{ name: string; from_ts: Date; to_ts: Date }>(
    `SELECT name, bound[1]::timestamptz AS from_ts, bound[2]::timestamptz AS to_ts
     FROM (SELECT c.relname AS name,
                  regexp_match(pg_get_expr(c.relpartbound, c.oid), $$FROM [(]'([^']+)'[)] TO [(]'([^']+)'[)]$$) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$') partitions
     ORDER BY name`,
  );
  return rows.map(({ name, from_ts, to_ts }) => ({ name, fromMs: from_ts.getTime(), toMs: to_ts.getTime() }));
}

/**
 * Records `cutoffMs` as where the events were pruned, unless an earlier prune cut them off later
 * (`event_prune_cut_off`, migration 0018). Ingest refuses the events before the cut-off as it writes them
 * (`insertEventGroups`), so the cut-off commits only once the writes under way, which may have read the one
 * before, have committed (a share lock of `event_ids`, tried a short wait at a time as the drop of partitions
 * is): the prune's deletions that follow see their rows. Should writes hold `event_ids` past `giveUpAtMs` (an
 * import's merge), it is recorded without that wait.
 */
async function recordPruneCutOff(db: Queryable, cutoffMs: number, giveUpAtMs: number): Promise<void> {
  const record = () =>
    db.query(
      `INSERT INTO event_prune_cut_off (cut_off) VALUES ($1)
       ON CONFLICT (singleton) DO UPDATE
         SET cut_off = GREATEST(event_prune_cut_off.cut_off, EXCLUDED.cut_off), pruned_at = now()`,
      [new Date(cutoffMs)],
    );
  const recorded = await inTransactionRetryingLockTimeouts(db, giveUpAtMs, async () => {
    // Recorded first: the insert waits for a roll-ups rebuild under way, which must not hold ingest up.
    await record();
    await db.query(`SET LOCAL lock_timeout = ${LOCK_TRY_TIMEOUT_MS}`);
    await db.query('LOCK TABLE event_ids IN SHARE MODE');
  });
  if (!recorded) await record();
}

/** The timestamp (epoch ms) of the oldest event stored; null when none is. */
export async function oldestEventMs(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ oldest: Date | null }>('SELECT min(ts) AS oldest FROM events');
  return rows[0]?.oldest?.getTime() ?? null;
}

export interface PruneResult {
  droppedPartitions: string[];
  /**
   * partitions before the cut-off whose drop a long read of the events held past `dropWaitMs`: their rows are
   * deleted instead (counted in `deletedEvents`), and the next prune drops them
   */
  emptiedPartitions: string[];
  /** rows deleted from the default partition and from the partition holding the cut-off */
  deletedEvents: number;
  /** per-user attribution roll-ups of the hours before the cut-off's hour */
  deletedUserRollups: number;
  deletedEventIds: number;
}

const LOCK_NOT_AVAILABLE = '55P03';
/**
 * How long one try to drop the old partitions (or to record the cut-off) waits for its lock. A waiting lock of
 * the events' tables queues every insert behind it, so a try gives up soon and the next comes a pause later: a
 * read holding the events for minutes (a build streaming them out) stalls ingest for this long per try, not for
 * the whole read.
 */
const LOCK_TRY_TIMEOUT_MS = 100;
const LOCK_RETRY_PAUSE_MS = 1_000;
/** How long a prune tries to drop the old partitions before deleting their rows instead. */
const DEFAULT_DROP_WAIT_MS = 60_000;
/** How long a prune waits for the event writes under way before recording its cut-off without them. */
const CUT_OFF_WAIT_MS = 10_000;

/**
 * Runs `work` in a transaction, again while it fails on a lock timeout (`LOCK_TRY_TIMEOUT_MS`, which `work`
 * sets where it should apply) until `giveUpAtMs`; false when it gave up.
 */
async function inTransactionRetryingLockTimeouts(
  client: Queryable,
  giveUpAtMs: number,
  work: () => Promise<void>,
): Promise<boolean> {
  for (;;) {
    try {
      await client.query('BEGIN');
      await work();
      await client.query('COMMIT');
      return true;
    } catch (error) {
      await client.query('ROLLBACK');
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw error;
    }
    if (Date.now() + LOCK_RETRY_PAUSE_MS >= giveUpAtMs) return false;
    await sleep(LOCK_RETRY_PAUSE_MS);
  }
}

/** Drops `partitions` in one transaction, trying again until `giveUpAtMs`; false when it gave up. */
function dropPartitions(
  client: Queryable,
  partitions: readonly EventPartition[],
  giveUpAtMs: number,
): Promise<boolean> {
  return inTransactionRetryingLockTimeouts(client, giveUpAtMs, async () => {
    await client.query(`SET LOCAL lock_timeout = ${LOCK_TRY_TIMEOUT_MS}`);
    for (const p of partitions) await client.query(`DROP TABLE "${p.name}"`);
  });
}

/**
 * Retention: records the cut-off first (`recordPruneCutOff`: a rebuild of the roll-ups then refuses the hours it
 * leaves partial, also when this prune stops midway, and ingest refuses the events before it), drops every
 * monthly partition whose own upper bound is at or before `cutoffMs` (cheap, no row-by-row delete), deletes the older rows left in the default partition, the
 * partition holding the cut-off and any partition it could not drop, then the per-user attribution roll-ups
 * (they hold user ids) of the hours before the cut-off's hour, and then forgets the events' idempotency keys (a
 * resend of such an event meanwhile is still a duplicate). The hourly roll-ups hold no user and stay. Separate
 * steps, not one transaction: dropping a partition locks `events` against every insert until it commits, and the
 * deletions scan (`event_ids` has no index on `ts`, which would cost every ingested event an index entry), so in
 * one transaction ingest stood still for the whole scan. The drop waits for the reads of `events` under way, and
 * inserts queue behind it meanwhile: it tries for `dropWaitMs`, a short wait at a time (`dropPartitions`), then
 * leaves the partitions to the deletion. The per-user roll-ups go after the events, once a worker step writing
 * them from events it read before has committed (`awaitUserRollupWriters`). Readers may see the dropped months
 * gone before the rows of the cut-off month; a prune stopped midway is finished by the next.
 */
export async function pruneEvents(
  pool: Pool,
  cutoffMs: number,
  { dropWaitMs = DEFAULT_DROP_WAIT_MS }: { dropWaitMs?: number } = {},
): Promise<PruneResult> {
  const client = await connectClient(pool);
  try {
    await recordPruneCutOff(client, cutoffMs, Date.now() + CUT_OFF_WAIT_MS);
    const old = (await listEventPartitions(client)).filter((p) => p.toMs <= cutoffMs);
    const dropped = old.length > 0 && (await dropPartitions(client, old, Date.now() + dropWaitMs));
    knownMonths.delete(pool);
    const cutoff = new Date(cutoffMs).toISOString();
    const events = await client.query('DELETE FROM events WHERE ts < $1', [cutoff]);
    await client.query('BEGIN');
    await awaitUserRollupWriters(client);
    const userRollups = await deleteUserRollups(client, {
      toMs: Math.floor(cutoffMs / HOUR_MS) * HOUR_MS,
    });
    await client.query('COMMIT');
    const ids = await client.query('DELETE FROM event_ids WHERE ts < $1', [cutoff]);
    return {
      droppedPartitions: dropped ? old.map((p) => p.name) : [],
      emptiedPartitions: dropped ? [] : old.map((p) => p.name),
      deletedEvents: events.rowCount ?? 0,
      deletedUserRollups: userRollups,
      deletedEventIds: ids.rowCount ?? 0,
    };
  } catch (error) {
    await rollBack(client, error);
    throw error;
  } finally {
    releaseClient(client);
  }
}
