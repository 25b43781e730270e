import { connectOwnClient, type Pool, type Queryable } from './pool';

export type ModelRunStatus = 'running' | 'published' | 'rejected' | 'failed';

export interface ModelRun {
  id: number;
  version: string;
  /** the model line it builds; null for a run recorded without one */
  modelLine: string | null;
  /** the Redis key prefix it publishes under; null when unknown (a run recorded before migration 0017) */
  keyPrefix: string | null;
  algorithm: string;
  params: Record<string, unknown>;
  inputCounts: Record<string, number>;
  phaseDurations: Record<string, number>;
  peakRssBytes: number | null;
  status: ModelRunStatus;
  metrics: Record<string, unknown> | null;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

interface ModelRunRow {
  id: number;
  version: string;
  model_line: string | null;
  key_prefix: string | null;
  algorithm: string;
  params: Record<string, unknown>;
  input_counts: Record<string, number>;
  phase_durations: Record<string, number>;
  peak_rss_bytes: number | null;
  status: ModelRunStatus;
  metrics: Record<string, unknown> | null;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
}

const toRun = (r: ModelRunRow): ModelRun => ({
  id: r.id,
  version: r.version,
  modelLine: r.model_line,
  keyPrefix: r.key_prefix,
  algorithm: r.algorithm,
  params: r.params,
  inputCounts: r.input_counts,
  phaseDurations: r.phase_durations,
  peakRssBytes: r.peak_rss_bytes,
  status: r.status,
  metrics: r.metrics,
  error: r.error,
  startedAt: r.started_at.toISOString(),
  finishedAt: r.finished_at?.toISOString() ?? null,
});

export async function startModelRun(
  db: Queryable,
  run: {
    version: string;
    algorithm: string;
    params: Record<string, unknown>;
    modelLine?: string;
    keyPrefix?: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO model_runs (version, algorithm, params, model_line, key_prefix, status)
     VALUES ($1, $2, $3, $4, $5, 'running')`,
    [run.version, run.algorithm, JSON.stringify(run.params), run.modelLine ?? null, run.keyPrefix ?? null],
  );
}

export interface ModelRunOutcome {
  status: Exclude<ModelRunStatus, 'running'>;
  inputCounts?: Record<string, number>;
  phaseDurations?: Record<string, number>;
  peakRssBytes?: number;
  metrics?: Record<string, unknown> | null;
  error?: string;
}

export async function finishModelRun(
  db: Queryable,
  version: string,
  outcome: ModelRunOutcome,
): Promise<void> {
  await db.query(
    `UPDATE model_runs SET status = $2, input_counts = coalesce($3, input_counts),
       phase_durations = coalesce($4, phase_durations), peak_rss_bytes = coalesce($5, peak_rss_bytes),
       metrics = coalesce($6, metrics), error = $7, finished_at = now()
     WHERE version = $1`,
    [
      version,
      outcome.status,
      outcome.inputCounts ? JSON.stringify(outcome.inputCounts) : null,
      outcome.phaseDurations ? JSON.stringify(outcome.phaseDurations) : null,
      outcome.peakRssBytes ?? null,
      outcome.metrics ? JSON.stringify(outcome.metrics) : null,
      outcome.error ?? null,
    ],
  );
}

/**
 * Marks the runs still `running` that started before `startedBeforeMs` as failed with `error`: their build ended
 * (killed, out of memory, a deploy) without recording an outcome. When it ended is unknown, so `finished_at` stays
 * null. Returns their versions.
 */
export async function failUnfinishedModelRuns(
  db: Queryable,
  startedBeforeMs: number,
  error: string,
): Promise<string[]> {
  const { rows } = await db.query<{ version: string }>(
    `UPDATE model_runs SET status = 'failed', error = $2
     WHERE status = 'running' AND started_at < $1
     RETURNING version`,
    [new Date(startedBeforeMs), error],
  );
  return rows.map((row) => row.version);
}

/** The runs `endRunsOfHeldLine` ended, by the status it recorded. */
export interface EndedRuns {
  failed: string[];
  published: string[];
}

/**
 * Ends the runs of model line `modelLine` under key prefix `keyPrefix` still `running`, but `ownVersion`: the
 * build holding the line calls it, so each of their builds stopped without recording an outcome (or lost its hold,
 * and its switch is refused from then on), whatever its age. A run whose version the line switched to
 * (`switchedVersions`: its build stopped between its switch and its record) is recorded published, the others
 * failed with `error`. When each ended is unknown, so `finished_at` stays null.
 */
export async function endRunsOfHeldLine(
  db: Queryable,
  held: {
    modelLine: string;
    keyPrefix: string;
    ownVersion: string;
    switchedVersions: readonly string[];
    error: string;
  },
): Promise<EndedRuns> {
  const { rows } = await db.query<{ version: string; switched: boolean }>(
    `UPDATE model_runs
     SET status = CASE WHEN version = ANY($4::text[]) THEN 'published' ELSE 'failed' END,
       error = CASE WHEN version = ANY($4::text[]) THEN NULL ELSE $5 END
     WHERE status = 'running' AND model_line = $1 AND key_prefix = $2 AND version <> $3
     RETURNING version, version = ANY($4::text[]) AS switched`,
    [held.modelLine, held.keyPrefix, held.ownVersion, held.switchedVersions, held.error],
  );
  return {
    failed: rows.filter((row) => !row.switched).map((row) => row.version),
    published: rows.filter((row) => row.switched).map((row) => row.version),
  };
}

/** Which runs `listModelRuns` lists: those of one key prefix, of one model line. */
export interface ModelRunFilter {
  /** runs published under this key prefix, and those whose prefix is unknown (recorded before it was) */
  keyPrefix?: string;
  modelLine?: string;
}

/** The newest `limit` runs (of `filter`'s prefix and line), newest first. */
export async function listModelRuns(
  db: Queryable,
  limit = 50,
  filter: ModelRunFilter = {},
): Promise<ModelRun[]> {
  const { rows } = await db.query<ModelRunRow>(
    `SELECT * FROM model_runs
     WHERE ($2::text IS NULL OR key_prefix = $2 OR key_prefix IS NULL)
       AND ($3::text IS NULL OR model_line = $3)
     ORDER BY started_at DESC, id DESC LIMIT $1`,
    [limit, filter.keyPrefix ?? null, filter.modelLine ?? null],
  );
  return rows.map(toRun);
}

export async function getModelRun(db: Queryable, version: string): Promise<ModelRun | null> {
  const { rows } = await db.query<ModelRunRow>('SELECT * FROM model_runs WHERE version = $1', [version]);
  return rows[0] ? toRun(rows[0]) : null;
}

/** A build's hold on its model line, from `holdModelLine`. */
export interface ModelLineHold {
  /**
   * Null while the hold stands, else why it is gone: its connection was lost (a Postgres restart or failover, a
   * proxy closing it), and the lock with its session, so another build of the line may have started. One query.
   */
  lost(): Promise<string | null>;
  /** Lets the next build of the line start. */
  release(): Promise<void>;
}

const MODEL_LINE_LOCK = "hashtextextended('elevens.model_line:' || $1, 0)";

/**
 * Takes the model line `line` for one build, or answers null while another build holds it: two builds of a line
 * would race, and the one finishing last would be served whatever events it read. The hold is a session advisory
 * lock on a connection of its own, outside the pool (the build's work keeps every pooled one), kept until `release`; a build that dies, or whose connections are closed,
 * lets it go with its session, and so does one whose connection is lost: `lost` tells, before it publishes.
 * `line` is what names the line where it is served (its Redis key), so lines of two key prefixes sharing a
 * database are two lines.
 */
export async function holdModelLine(pool: Pool, line: string): Promise<ModelLineHold | null> {
  const client = await connectOwnClient(pool);
  const close = () => client.end().catch(() => {});
  let held: boolean;
  try {
    const { rows } = await client.query<{ held: boolean }>(
      `SELECT pg_try_advisory_lock(${MODEL_LINE_LOCK}) AS held`,
      [line],
    );
    held = rows[0]!.held;
  } catch (error) {
    await close();
    throw error;
  }
  if (!held) {
    await close();
    return null;
  }
  // Why the idle connection ended (the server's `terminating connection …`) arrives as an event: the query that
  // later finds it gone is only told it is not queryable.
  let endedBy: Error | null = null;
  const noteEnd = (error: Error) => {
    endedBy ??= error;
  };
  client.on('error', noteEnd);
  return {
    async lost() {
      // The key an advisory lock on a bigint is taken with is split over classid (high half) and objid.
      return client
        .query<{ held: boolean }>(
          `SELECT EXISTS (
             SELECT 1 FROM pg_locks
             WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND objsubid = 1
               AND ((classid::bigint << 32) | objid::bigint) = ${MODEL_LINE_LOCK}
           ) AS held`,
          [line],
        )
        .then(
          ({ rows }) => (rows[0]!.held ? null : 'its Postgres session no longer holds the lock'),
          (error: Error) => `its Postgres connection was lost (${(endedBy ?? error).message})`,
        );
    },
    async release() {
      // Unlocked first: the server ends a closed session's locks only once its backend has exited, after the
      // close answers, and the next build of the line may already be asking. A session that cannot unlock is
      // closed all the same, and its lock goes with it.
      await client.query(`SELECT pg_advisory_unlock(${MODEL_LINE_LOCK})`, [line]).catch(() => {});
      client.off('error', noteEnd);
      await close();
    },
  };
}
