import { execOrThrow, type RedisClient } from '../client';
import type { RedisKeys } from '../keys';

/** A rule set as mirrored: any JSON value carrying the Postgres version it was stored as. */
export interface MirroredRuleSet {
  version: number;
}

/** What serving processes poll: the version mirrored and the changes whose copy is not yet confirmed. */
export interface BoostRulesMirrorState {
  /** null when the mirror holds none */
  version: number | null;
  /** ids of changes copied before their commit and not confirmed since */
  unconfirmed: string[];
}

/**
 * The Redis copy of the boost rules serving reads: the rule set as JSON, its version, which serving processes
 * poll, and the ids of changes copied but not yet confirmed committed. The keys share a hash tag: they are
 * written in one transaction.
 */
export class BoostRulesMirror {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** The version and the unconfirmed changes, in one round trip. */
  async state(): Promise<BoostRulesMirrorState> {
    const { keys } = this;
    const [version, unconfirmed] = (await execOrThrow(
      this.redis.multi().get(keys.rulesBoostsVersion()).smembers(keys.rulesBoostsUnconfirmed()),
    )) as [string | null, string[]];
    return { version: version === null ? null : Number(version), unconfirmed };
  }

  /** The mirrored rule set as parsed from its JSON, unchecked (the reader validates it); null when none. */
  async read(): Promise<unknown> {
    const json = await this.redis.get(this.keys.rulesBoosts());
    return json === null ? null : JSON.parse(json);
  }

  /**
   * Writes the rule set of change `changeId` before its commit, with its version and the change marked
   * unconfirmed (`confirm` clears it); throws when Redis did not take all.
   */
  async write(rules: MirroredRuleSet, changeId: string): Promise<void> {
    await execOrThrow(this.set(rules).sadd(this.keys.rulesBoostsUnconfirmed(), changeId));
  }

  /** Clears the mark of change `changeId`, once it committed. */
  async confirm(changeId: string): Promise<void> {
    await this.redis.srem(this.keys.rulesBoostsUnconfirmed(), changeId);
  }

  /**
   * Writes the committed rule set and clears every unconfirmed mark: for a caller holding the writers' lock, so
   * no change is between its copy and its commit.
   */
  async writeCommitted(rules: MirroredRuleSet): Promise<void> {
    await execOrThrow(this.set(rules).del(this.keys.rulesBoostsUnconfirmed()));
  }

  /** Writes a rule set only where the mirror holds none (NX on both: a concurrent `write` wins). */
  async restore(rules: MirroredRuleSet): Promise<void> {
    const { keys } = this;
    await execOrThrow(
      this.redis
        .multi()
        .set(keys.rulesBoosts(), JSON.stringify(rules), 'NX')
        .set(keys.rulesBoostsVersion(), String(rules.version), 'NX'),
    );
  }

  private set(rules: MirroredRuleSet) {
    const { keys } = this;
    return this.redis
      .multi()
      .set(keys.rulesBoosts(), JSON.stringify(rules))
      .set(keys.rulesBoostsVersion(), String(rules.version));
  }
}
