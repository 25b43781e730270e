import {
  type ArmSlices,
  type Experiment,
  type ExperimentArm,
  type ExperimentInput,
  experimentStatus,
  experimentsOverlap,
  resliceArms,
  sharesAsSlices,
} from '@elevens/domain';
import { type Pool, type Queryable, withTransaction } from './pool';

interface ExperimentRow {
  id: string;
  arms: ExperimentArm[];
  arm_slices: ArmSlices | null;
  placement: string | null;
  starts_at: Date | null;
  ends_at: Date | null;
  updated_by: string | null;
  updated_at: Date;
}

/** A stored experiment with its window as epoch ms (null: open), for serving. */
export interface StoredExperiment {
  id: string;
  arms: ExperimentArm[];
  /** which points of the assignment line each arm holds, by position (`ArmSlices`) */
  slices: ArmSlices;
  placement: string | null;
  fromMs: number | null;
  untilMs: number | null;
  updatedBy: string | null;
  updatedAtMs: number;
}

const COLUMNS = 'id, arms, arm_slices, placement, starts_at, ends_at, updated_by, updated_at';

const stored = (row: ExperimentRow): StoredExperiment => ({
  id: row.id,
  arms: row.arms,
  // Rows stored before arm_slices: their arms divide the line by their shares in order, as they always did.
  slices: row.arm_slices?.length === row.arms.length ? row.arm_slices : sharesAsSlices(row.arms),
  placement: row.placement,
  fromMs: row.starts_at?.getTime() ?? null,
  untilMs: row.ends_at?.getTime() ?? null,
  updatedBy: row.updated_by,
  updatedAtMs: row.updated_at.getTime(),
});

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The wire form of a stored experiment at `nowMs`, with the set version. */
export const experimentReply = (e: StoredExperiment, version: number, nowMs: number): Experiment => ({
  id: e.id,
  arms: e.arms,
  placement: e.placement,
  from: isoOrNull(e.fromMs),
  until: isoOrNull(e.untilMs),
  status: experimentStatus(e.fromMs, e.untilMs, nowMs),
  updatedBy: e.updatedBy,
  updatedAt: new Date(e.updatedAtMs).toISOString(),
  version,
});

/** The experiment set's version: every change bumps it. */
export async function experimentsVersion(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ version: number }>('SELECT version FROM experiments_version');
  return rows[0]?.version ?? 0;
}

export async function listExperiments(db: Queryable): Promise<StoredExperiment[]> {
  const { rows } = await db.query<ExperimentRow>(`SELECT ${COLUMNS} FROM experiments ORDER BY id`);
  return rows.map(stored);
}

export async function getExperiment(db: Queryable, id: string): Promise<StoredExperiment | null> {
  const { rows } = await db.query<ExperimentRow>(`SELECT ${COLUMNS} FROM experiments WHERE id = $1`, [id]);
  return rows[0] ? stored(rows[0]) : null;
}

export type PutExperimentResult =
  | { ok: true; experiment: StoredExperiment; version: number }
  | { ok: false; conflictsWith: string }
  /** `until` is not after the start it would have: the one given, the stored one, or now for a new experiment */
  | { ok: false; untilNotAfterFromMs: number };

const LOCK = "SELECT pg_advisory_xact_lock(hashtext('elevens.experiments'))";
const BUMP = 'UPDATE experiments_version SET version = version + 1 RETURNING version';

/**
 * Creates or replaces experiment `id`; refused when another experiment shares its placement and window. Without
 * `from`, an existing experiment keeps its stored start (an edit of its end or shares neither starts a scheduled
 * one early nor restarts a running one), and a new one starts at `nowMs`, so it never overlaps the ended ones
 * before it. An existing experiment's arms keep their users (`resliceArms`) from the slices stored last. Changes
 * are serialised, so two overlapping PUTs cannot both pass the check, nor reslice the same stored slices.
 */
export async function putExperiment(
  pool: Pool,
  id: string,
  input: ExperimentInput,
  updatedBy: string | null,
  nowMs: number,
): Promise<PutExperimentResult> {
  const untilMs = input.until === undefined ? null : Date.parse(input.until);
  return withTransaction(pool, async (client) => {
    await client.query(LOCK);
    const all = await listExperiments(client);
    const existing = all.find((e) => e.id === id);
    const fromMs =
      input.from !== undefined ? Date.parse(input.from) : existing === undefined ? nowMs : existing.fromMs;
    if (fromMs !== null && untilMs !== null && untilMs <= fromMs)
      return { ok: false, untilNotAfterFromMs: fromMs };
    const candidate = { placement: input.placement ?? null, fromMs, untilMs };
    const others = all.filter((e) => e.id !== id);
    const conflict = others.find((other) => experimentsOverlap(candidate, other));
    if (conflict) return { ok: false, conflictsWith: conflict.id };
    const slices =
      existing === undefined
        ? sharesAsSlices(input.arms)
        : resliceArms(existing.arms, existing.slices, input.arms);
    const { rows } = await client.query<ExperimentRow>(
      `INSERT INTO experiments (id, arms, arm_slices, placement, starts_at, ends_at, updated_by, updated_at)
       VALUES ($1, $2::jsonb, $3::jsonb, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET arms = EXCLUDED.arms, arm_slices = EXCLUDED.arm_slices,
         placement = EXCLUDED.placement, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
         updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
       RETURNING ${COLUMNS}`,
      [
        id,
        JSON.stringify(input.arms),
        JSON.stringify(slices),
        candidate.placement,
        fromMs === null ? null : new Date(fromMs),
        untilMs === null ? null : new Date(untilMs),
        updatedBy,
        new Date(nowMs),
      ],
    );
    const { rows: version } = await client.query<{ version: number }>(BUMP);
    return { ok: true, experiment: stored(rows[0]!), version: version[0]!.version };
  });
}

/** Deletes experiment `id`; the new set version, or null when there was none. */
export async function deleteExperiment(pool: Pool, id: string): Promise<number | null> {
  return withTransaction(pool, async (client) => {
    await client.query(LOCK);
    const { rowCount } = await client.query('DELETE FROM experiments WHERE id = $1', [id]);
    if (!rowCount) return null;
    const { rows } = await client.query<{ version: number }>(BUMP);
    return rows[0]!.version;
  });
}
