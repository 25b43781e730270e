import type { RedisClient } from '../client';
import type { RedisKeys } from '../keys';

/** A rule set as mirrored: any JSON value carrying the Postgres version it was stored as. */
export interface MirroredRuleSet {
  version: number;
}

/**
 * The Redis copy of the boost rules serving reads: the rule set as JSON and its version, which serving processes
 * poll. Both keys share a hash tag: they are written in one transaction.
 */
export class BoostRulesMirror {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** The version mirrored, or null when the mirror holds none. */
  async version(): Promise<number | null> {
    const version = await this.redis.get(this.keys.rulesBoostsVersion());
    return version === null ? null : Number(version);
  }

  /** The mirrored rule set as parsed from its JSON, unchecked (the reader validates it); null when none. */
  async read(): Promise<unknown> {
    const json = await this.redis.get(this.keys.rulesBoosts());
    return json === null ? null : JSON.parse(json);
  }

  /** Writes a rule set and its version together; throws when Redis did not take both. */
  async write(rules: MirroredRuleSet): Promise<void> {
    await this.set(rules, false);
  }

  /** Writes a rule set only where the mirror holds none (NX on both: a concurrent `write` wins). */
  async restore(rules: MirroredRuleSet): Promise<void> {
    await this.set(rules, true);
  }

  private async set(rules: MirroredRuleSet, onlyWhereMissing: boolean): Promise<void> {
    const { keys } = this;
    const transaction = this.redis.multi();
    if (onlyWhereMissing)
      transaction
        .set(keys.rulesBoosts(), JSON.stringify(rules), 'NX')
        .set(keys.rulesBoostsVersion(), String(rules.version), 'NX');
    else
      transaction
        .set(keys.rulesBoosts(), JSON.stringify(rules))
        .set(keys.rulesBoostsVersion(), String(rules.version));
    const results = await transaction.exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('transaction aborted');
  }
}
