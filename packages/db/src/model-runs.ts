import { connectClient, type Pool, type Queryable, releaseClient } from './pool';

export type ModelRunStatus = 'running' | 'published' | 'rejected' | 'failed';

export interface ModelRun {
  id: number;
  version: string;
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
  run: { version: string; algorithm: string; params: Record<string, unknown> },
): Promise<void> {
  await db.query(
    `INSERT INTO model_runs (version, algorithm, params, status) VALUES ($1, $2, $3, 'running')`,
    [run.version, run.algorithm, JSON.stringify(run.params)],
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

export async function listModelRuns(db: Queryable, limit = 50): Promise<ModelRun[]> {
  const { rows } = await db.query<ModelRunRow>(
    'SELECT * FROM model_runs ORDER BY started_at DESC, id DESC LIMIT $1',
    [limit],
  );
  return rows.map(toRun);
}

export async function getModelRun(db: Queryable, version: string): Promise<ModelRun | null> {
  const { rows } = await db.query<ModelRunRow>('SELECT * FROM model_runs WHERE version = $1', [version]);
  return rows[0] ? toRun(rows[0]) : null;
}

/** A build's hold on its model line, from `holdModelLine`. */
export interface ModelLineHold {
  /** Lets the next build of the line start. */
  release(): Promise<void>;
}

const MODEL_LINE_LOCK = "hashtextextended('elevens.model_line:' || $1, 0)";

/**
 * Takes the model line `line` for one build, or answers null while another build holds it: two builds of a line
 * would race, and the one finishing last would be served whatever events it read. The hold is a session advisory
 * lock on a connection of its own, kept until `release`; a build that dies, or whose connections are closed,
 * lets it go with its session. `line` is what names the line where it is served (its Redis key), so lines of
 * two key prefixes sharing a database are two lines.
 */
export async function holdModelLine(pool: Pool, line: string): Promise<ModelLineHold | null> {
  const client = await connectClient(pool);
  let held: boolean;
  try {
    const { rows } = await client.query<{ held: boolean }>(
      `SELECT pg_try_advisory_lock(${MODEL_LINE_LOCK}) AS held`,
      [line],
    );
    held = rows[0]!.held;
  } catch (error) {
    releaseClient(client, true);
    throw error;
  }
  if (!held) {
    releaseClient(client);
    return null;
  }
  return {
    async release() {
      // A connection that cannot unlock is closed instead: its session, and the lock with it, ends.
      const unlocked = await client.query(`SELECT pg_advisory_unlock(${MODEL_LINE_LOCK})`, [line]).then(
        () => true,
        () => false,
      );
      releaseClient(client, !unlocked);
    },
  };
}
