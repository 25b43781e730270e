import type { BoostRules, BoostRulesReply } from '@elevens/domain';
import { type Pool, withTransaction } from '../pool';

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

const LOCK = "SELECT pg_advisory_xact_lock(hashtext('elevens.boost_rules'))";

/** Every version of the merchandiser boosts and pins, in Postgres (the truth; serving reads a Redis copy). */
export class BoostRuleStore {
  constructor(private readonly pool: Pool) {}

  /** The newest stored rule set, or the empty one. */
  async latest(): Promise<BoostRulesReply> {
    const { rows } = await this.pool.query<BoostRulesRow>(
      'SELECT version, boosts, pins, updated_by, updated_at FROM boost_rules ORDER BY version DESC LIMIT 1',
    );
    const row = rows[0];
    if (!row) return EMPTY_BOOST_RULES;
    return {
      version: row.version,
      boosts: row.boosts,
      pins: row.pins,
      updatedBy: row.updated_by,
      updatedAt: row.updated_at.toISOString(),
    };
  }

  /**
   * Stores `rules` as the next version, one writer at a time (an advisory lock), and hands the stored set to
   * `publish` before the commit: versions reach the copy in order, and when `publish` throws nothing is stored.
   */
  append(
    rules: Pick<BoostRules, 'boosts' | 'pins'>,
    updatedBy: string | null,
    publish: (stored: BoostRulesReply) => Promise<void>,
  ): Promise<BoostRulesReply> {
    return withTransaction(this.pool, async (client) => {
      await client.query(LOCK);
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
