import type { PushRuleBody, PushRuleView, QuietHoursBody, QuietHoursView } from '@elevens/domain';
import { type Pool, type PoolClient, type Queryable, withTransaction } from './pool';

/** What the API serves from: every rule in force and the quiet hours in force. */
export interface PushConfig {
  rules: PushRuleView[];
  quietHours: QuietHoursView | null;
}

interface PushRuleRow {
  rule_id: string;
  channel: PushRuleView['channel'];
  rule_limit: number;
  rule_window: string;
  category: string | null;
  active_from: Date | null;
  active_until: Date | null;
  enabled: boolean;
  version: number;
  updated_by: string;
  updated_at: Date;
}

const toRule = (row: PushRuleRow): PushRuleView => ({
  ruleId: row.rule_id,
  channel: row.channel,
  limit: row.rule_limit,
  window: row.rule_window,
  ...(row.category === null ? {} : { category: row.category }),
  ...(row.active_from === null ? {} : { activeFrom: row.active_from.toISOString() }),
  ...(row.active_until === null ? {} : { activeUntil: row.active_until.toISOString() }),
  enabled: row.enabled,
  version: row.version,
  updatedBy: row.updated_by,
  updatedAt: row.updated_at.toISOString(),
});

interface QuietHoursRow {
  version: number;
  definition: QuietHoursBody;
  author: string;
  changed_at: Date;
}

const toQuietHours = (row: QuietHoursRow): QuietHoursView => ({
  start: row.definition.start,
  end: row.definition.end,
  channels: row.definition.channels,
  enabled: row.definition.enabled,
  version: row.version,
  updatedBy: row.author,
  updatedAt: row.changed_at.toISOString(),
});

const PUSH_CONFIG_LOCK_KEY = "hashtext('elevens:push-config')";

/**
 * Runs a change of the push config in a transaction holding one advisory lock, so changes (and the Redis copy
 * `fn` publishes before commit) happen one at a time, in commit order.
 */
export async function withPushConfigLock<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(${PUSH_CONFIG_LOCK_KEY})`);
    return fn(client);
  });
}

/** `withPushConfigLock` without waiting: false, and `fn` not run, while another transaction holds the lock. */
export async function withPushConfigLockIfFree(
  pool: Pool,
  fn: (client: PoolClient) => Promise<void>,
): Promise<boolean> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_xact_lock(${PUSH_CONFIG_LOCK_KEY}) AS locked`,
    );
    if (!rows[0]!.locked) return false;
    await fn(client);
    return true;
  });
}

/** Creates or replaces a rule and appends the new version to its history. */
export async function upsertPushRule(
  db: Queryable,
  ruleId: string,
  body: PushRuleBody,
  author: string,
): Promise<PushRuleView> {
  const { rows } = await db.query<PushRuleRow>(
    `WITH next AS (
       SELECT coalesce(max(version), 0) + 1 AS version FROM push_rule_versions WHERE rule_id = $1
     ), saved AS (
       INSERT INTO push_rules (rule_id, channel, rule_limit, rule_window, category, active_from, active_until,
                               enabled, version, updated_by)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, next.version, $9 FROM next
       ON CONFLICT (rule_id) DO UPDATE SET channel = EXCLUDED.channel, rule_limit = EXCLUDED.rule_limit,
         rule_window = EXCLUDED.rule_window, category = EXCLUDED.category, active_from = EXCLUDED.active_from,
         active_until = EXCLUDED.active_until, enabled = EXCLUDED.enabled, version = EXCLUDED.version,
         updated_by = EXCLUDED.updated_by, updated_at = now()
       RETURNING *
     ), history AS (
       INSERT INTO push_rule_versions (rule_id, version, definition, author, changed_at)
       SELECT rule_id, version, $10::jsonb, updated_by, updated_at FROM saved
     )
     SELECT * FROM saved`,
    [
      ruleId,
      body.channel,
      body.limit,
      body.window,
      body.category ?? null,
      body.activeFrom ?? null,
      body.activeUntil ?? null,
      body.enabled,
      author,
      JSON.stringify(body),
    ],
  );
  return toRule(rows[0]!);
}

/** The rule in force, or null when no rule of that id is (never created, or deleted). */
export async function loadPushRule(db: Queryable, ruleId: string): Promise<PushRuleView | null> {
  const { rows } = await db.query<PushRuleRow>('SELECT * FROM push_rules WHERE rule_id = $1', [ruleId]);
  return rows[0] ? toRule(rows[0]) : null;
}

/** Deletes a rule and records the deletion in its history; false when there was no such rule. */
export async function deletePushRule(db: Queryable, ruleId: string, author: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH gone AS (DELETE FROM push_rules WHERE rule_id = $1 RETURNING rule_id)
     INSERT INTO push_rule_versions (rule_id, version, definition, author)
     SELECT gone.rule_id, (SELECT coalesce(max(version), 0) + 1 FROM push_rule_versions WHERE rule_id = $1),
            NULL, $2
     FROM gone`,
    [ruleId, author],
  );
  return (rowCount ?? 0) > 0;
}

export interface PushRuleVersion {
  version: number;
  definition: Record<string, unknown> | null;
  author: string;
  changedAt: string;
}

/** Which page of a history to read: up to `limit` versions older than `before` (default: from the newest). */
export interface VersionPageQuery {
  before?: number | undefined;
  limit: number;
}

/** A page of versions, newest first; `nextBefore` reads the next, older page (null: none is older). */
export interface VersionPage<T> {
  versions: T[];
  nextBefore: number | null;
}

/** The page of `rows`, read with one row more than `limit` to know whether an older page exists. */
function pageOf<T extends { version: number }>(rows: T[], limit: number): VersionPage<T> {
  const versions = rows.slice(0, limit);
  return { versions, nextBefore: rows.length > limit ? versions.at(-1)!.version : null };
}

/** A page of a rule's versions, newest first. */
export async function listPushRuleVersions(
  db: Queryable,
  ruleId: string,
  page: VersionPageQuery,
): Promise<VersionPage<PushRuleVersion>> {
  const { rows } = await db.query<{
    version: number;
    definition: Record<string, unknown> | null;
    author: string;
    changed_at: Date;
  }>(
    `SELECT * FROM push_rule_versions WHERE rule_id = $1 AND ($2::integer IS NULL OR version < $2)
     ORDER BY version DESC LIMIT $3`,
    [ruleId, page.before ?? null, page.limit + 1],
  );
  return pageOf(
    rows.map((r) => ({
      version: r.version,
      definition: r.definition,
      author: r.author,
      changedAt: r.changed_at.toISOString(),
    })),
    page.limit,
  );
}

/** Appends a version of the quiet hours; the newest is in force. */
export async function setQuietHours(
  db: Queryable,
  body: QuietHoursBody,
  author: string,
): Promise<QuietHoursView> {
  const { rows } = await db.query<QuietHoursRow>(
    'INSERT INTO push_quiet_hours_versions (definition, author) VALUES ($1, $2) RETURNING *',
    [JSON.stringify(body), author],
  );
  return toQuietHours(rows[0]!);
}

/** A page of the quiet-hours versions, newest first. */
export async function listQuietHoursVersions(
  db: Queryable,
  page: VersionPageQuery,
): Promise<VersionPage<QuietHoursView>> {
  const { rows } = await db.query<QuietHoursRow>(
    `SELECT * FROM push_quiet_hours_versions WHERE ($1::bigint IS NULL OR version < $1)
     ORDER BY version DESC LIMIT $2`,
    [page.before ?? null, page.limit + 1],
  );
  return pageOf(rows.map(toQuietHours), page.limit);
}

/** The version of the quiet hours in force, 0 when none were ever set. */
export async function quietHoursVersionInForce(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ version: number }>(
    'SELECT coalesce(max(version), 0) AS version FROM push_quiet_hours_versions',
  );
  return rows[0]!.version;
}

export async function loadPushConfig(db: Queryable): Promise<PushConfig> {
  const rules = await db.query<PushRuleRow>('SELECT * FROM push_rules ORDER BY rule_id');
  const quiet = await listQuietHoursVersions(db, { limit: 1 });
  return { rules: rules.rows.map(toRule), quietHours: quiet.versions[0] ?? null };
}
