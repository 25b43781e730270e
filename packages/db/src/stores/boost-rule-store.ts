import type { BoostRules, BoostRulesReply } from '@elevens/domain';
import { type Pool, type Queryable, withTransaction } from '../pool';
import { StaleVersion } from './stale-version';

/** The rule set served before any was stored. */
export const EMPTY_BOOST_RULES: BoostRulesReply = {
  version: 0,
  boosts: [],
  pins: [],
  updatedBy: null,
  updatedAt: null,
};

interface BoostRulesRow {
  version: number;
  boosts: BoostRulesReply['boosts'];
  pins: BoostRulesReply['pins'];
  updated_by: string | null;
  updated_at: Date;
}

/** A change made on an older version than the one in force (`append`'s `ifVersions`): nothing was stored. */
export class StaleBoostRulesVersion extends StaleVersion {
  constructor(currentVersion: number) {
    super(currentVersion, `the boost rules in force are version ${currentVersion}`);
  }
}

const LOCK = "SELECT pg_advisory_xact_lock(hashtext('elevens.boost_rules'))";
const TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('elevens.boost_rules')) AS locked";

/** Every version of the merchandiser boosts and pins, in Postgres (the truth; serving reads a Redis copy). */
export class BoostRuleStore {
  constructor(private readonly pool: Pool) {}

  /** The newest stored rule set, or the empty one. */
  latest(): Promise<BoostRulesReply> {
    return latestOf(this.pool);
  }

  /** The rule set stored as `version`, or null when none was. */
  async atVersion(version: number): Promise<BoostRulesReply | null> {
    const { rows } = await this.pool.query<BoostRulesRow>(
      'SELECT version, boosts, pins, updated_by, updated_at FROM boost_rules WHERE version = $1',
      [version],
    );
    return rows[0] ? replyOf(rows[0]) : null;
  }

  /**
   * Hands the newest committed rule set (or the empty one) to `publish` under the writers' lock, so no change
   * commits between the read and the copy: for copying the committed rules again after a change that failed once
   * its copy may have been written. Writes nothing, so the copy is right even if this transaction fails.
   */
  publishLatest(publish: (stored: BoostRulesReply) => Promise<void>): Promise<void> {
    return withTransaction(this.pool, async (client) => {
      await client.query(LOCK);
      await publish(await latestOf(client));
    });
  }

  /**
   * `publishLatest` without waiting for the writers' lock: false, and `publish` not called, while a change holds
   * it (so a change in flight is neither held up nor undone).
   */
  publishLatestIfIdle(publish: (stored: BoostRulesReply) => Promise<void>): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ locked: boolean }>(TRY_LOCK);
      if (!rows[0]!.locked) return false;
      await publish(await latestOf(client));
      return true;
    });
  }

  /**
   * Stores `rules` as the next version, one writer at a time (an advisory lock), and hands the stored set to
   * `publish` before the commit: versions reach the copy in order, and when `publish` throws nothing is stored.
   * When the commit fails after `publish`, the copy holds a version Postgres does not: copy the committed one
   * again (`publishLatest`). With `ifVersions`, stores only while the version in force (0: none stored) is one
   * of them, compared under the lock so no other change commits in between; else throws
   * `StaleBoostRulesVersion`, having published nothing.
   */
  append(
    rules: Pick<BoostRules, 'boosts' | 'pins'>,
    updatedBy: string | null,
    publish: (stored: BoostRulesReply) => Promise<void>,
    ifVersions?: readonly number[],
  ): Promise<BoostRulesReply> {
    return withTransaction(this.pool, async (client) => {
      await client.query(LOCK);
      if (ifVersions !== undefined) {
        const { rows } = await client.query<{ version: number }>(
          'SELECT coalesce(max(version), 0) AS version FROM boost_rules',
        );
        const currentVersion = rows[0]!.version;
        if (!ifVersions.includes(currentVersion)) throw new StaleBoostRulesVersion(currentVersion);
      }
      const { rows } = await client.query<{ version: number; updated_at: Date }>(
        `INSERT INTO boost_rules (boosts, pins, updated_by) VALUES ($1::jsonb, $2::jsonb, $3)
         RETURNING version, updated_at`,
        [JSON.stringify(rules.boosts), JSON.stringify(rules.pins), updatedBy],
      );
      const stored: BoostRulesReply = {
        version: rows[0]!.version,
        boosts: rules.boosts,
        pins: rules.pins,
        updatedBy,
        updatedAt: rows[0]!.updated_at.toISOString(),
      };
      await publish(stored);
      return stored;
    });
  }
}

async function latestOf(db: Queryable): Promise<BoostRulesReply> {
  const { rows } = await db.query<BoostRulesRow>(
    'SELECT version, boosts, pins, updated_by, updated_at FROM boost_rules ORDER BY version DESC LIMIT 1',
  );
  return rows[0] ? replyOf(rows[0]) : EMPTY_BOOST_RULES;
}

function replyOf(row: BoostRulesRow): BoostRulesReply {
  return {
    version: row.version,
    boosts: row.boosts,
    pins: row.pins,
    updatedBy: row.updated_by,
    updatedAt: row.updated_at.toISOString(),
  };
}
