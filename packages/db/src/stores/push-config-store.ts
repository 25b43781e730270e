import type { PushRuleBody, PushRuleView, QuietHoursBody, QuietHoursView } from '@elevens/domain';
import type { Pool, PoolClient } from '../pool';
import {
  deletePushRule,
  listPushRuleVersions,
  listQuietHoursVersions,
  loadPushConfig,
  loadPushRule,
  type PushConfig,
  type PushRuleVersion,
  quietHoursVersionInForce,
  setQuietHours,
  upsertPushRule,
  type VersionPage,
  type VersionPageQuery,
  withPushConfigLock,
  withPushConfigLockIfFree,
} from '../push';
import { StaleVersion } from './stale-version';

/**
 * A change made on another version than the one in force (its `ifVersions`): nothing was stored. For a rule,
 * `currentVersion` 0 means no rule of that id is in force (never created, or deleted).
 */
export class StalePushConfigVersion extends StaleVersion {
  constructor(currentVersion: number) {
    super(currentVersion, `the version in force is ${currentVersion}`);
  }
}

/** Throws `StalePushConfigVersion` unless `ifVersions` (when given) names `currentVersion`. */
function requireVersion(currentVersion: number, ifVersions: readonly number[] | undefined): void {
  if (ifVersions !== undefined && !ifVersions.includes(currentVersion))
    throw new StalePushConfigVersion(currentVersion);
}

/**
 * One change of the push config, inside the config lock's transaction (`PushConfigStore.change`). With
 * `ifVersions`, a change is made only while the version in force is one of them (0: no rule of that id, no quiet
 * hours ever set); compared under the lock, so no other change commits in between. Else it throws
 * `StalePushConfigVersion`, having stored nothing.
 */
export class PushConfigChange {
  constructor(private readonly client: PoolClient) {}

  async upsertRule(
    ruleId: string,
    body: PushRuleBody,
    author: string,
    ifVersions?: readonly number[],
  ): Promise<PushRuleView> {
    if (ifVersions !== undefined) requireVersion(await this.ruleVersion(ruleId), ifVersions);
    return upsertPushRule(this.client, ruleId, body, author);
  }

  /** False when there was no such rule. */
  async deleteRule(ruleId: string, author: string, ifVersions?: readonly number[]): Promise<boolean> {
    if (ifVersions !== undefined) requireVersion(await this.ruleVersion(ruleId), ifVersions);
    return deletePushRule(this.client, ruleId, author);
  }

  async setQuietHours(
    body: QuietHoursBody,
    author: string,
    ifVersions?: readonly number[],
  ): Promise<QuietHoursView> {
    if (ifVersions !== undefined) requireVersion(await quietHoursVersionInForce(this.client), ifVersions);
    return setQuietHours(this.client, body, author);
  }

  /** The config as this transaction sees it (its own change included). */
  load(): Promise<PushConfig> {
    return loadPushConfig(this.client);
  }

  private async ruleVersion(ruleId: string): Promise<number> {
    return (await loadPushRule(this.client, ruleId))?.version ?? 0;
  }
}

/** The marketer's push rules and quiet hours with their histories, in Postgres (serving reads a Redis copy). */
export class PushConfigStore {
  constructor(private readonly pool: Pool) {}

  /** Every rule in force and the quiet hours in force. */
  load(): Promise<PushConfig> {
    return loadPushConfig(this.pool);
  }

  /** The rule in force, or null when none of that id is. */
  rule(ruleId: string): Promise<PushRuleView | null> {
    return loadPushRule(this.pool, ruleId);
  }

  /** A page of a rule's versions, newest first (none from the newest: no such rule ever). */
  ruleVersions(ruleId: string, page: VersionPageQuery): Promise<VersionPage<PushRuleVersion>> {
    return listPushRuleVersions(this.pool, ruleId, page);
  }

  /** A page of the quiet-hours versions, newest first. */
  quietHoursVersions(page: VersionPageQuery): Promise<VersionPage<QuietHoursView>> {
    return listQuietHoursVersions(this.pool, page);
  }

  /**
   * Runs `fn` in a transaction holding the config lock, so changes (and the Redis copy `fn` publishes before
   * the commit) happen one at a time, in commit order.
   */
  change<T>(fn: (change: PushConfigChange) => Promise<T>): Promise<T> {
    return withPushConfigLock(this.pool, (client) => fn(new PushConfigChange(client)));
  }

  /**
   * `change` without waiting for the config lock: false, and `fn` not run, while a change holds it (for copying
   * the committed config again without holding up, or undoing, a change in flight).
   */
  changeIfIdle(fn: (change: PushConfigChange) => Promise<void>): Promise<boolean> {
    return withPushConfigLockIfFree(this.pool, (client) => fn(new PushConfigChange(client)));
  }
}
