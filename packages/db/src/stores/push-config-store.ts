import type { PushRuleBody, PushRuleView, QuietHoursBody, QuietHoursView } from '@elevens/domain';
import type { Pool, PoolClient } from '../pool';
import {
  deletePushRule,
  listPushRuleVersions,
  listQuietHoursVersions,
  loadPushConfig,
  type PushConfig,
  type PushRuleVersion,
  setQuietHours,
  upsertPushRule,
  withPushConfigLock,
  withPushConfigLockIfFree,
} from '../push';

/** One change of the push config, inside the config lock's transaction (`PushConfigStore.change`). */
export class PushConfigChange {
  constructor(private readonly client: PoolClient) {}

  upsertRule(ruleId: string, body: PushRuleBody, author: string): Promise<PushRuleView> {
    return upsertPushRule(this.client, ruleId, body, author);
  }

  /** False when there was no such rule. */
  deleteRule(ruleId: string, author: string): Promise<boolean> {
    return deletePushRule(this.client, ruleId, author);
  }

  setQuietHours(body: QuietHoursBody, author: string): Promise<QuietHoursView> {
    return setQuietHours(this.client, body, author);
  }

  /** The config as this transaction sees it (its own change included). */
  load(): Promise<PushConfig> {
    return loadPushConfig(this.client);
  }
}

/** The marketer's push rules and quiet hours with their histories, in Postgres (serving reads a Redis copy). */
export class PushConfigStore {
  constructor(private readonly pool: Pool) {}

  /** Every rule in force and the quiet hours in force. */
  load(): Promise<PushConfig> {
    return loadPushConfig(this.pool);
  }

  /** A rule's versions, newest first (none: no such rule ever). */
  ruleVersions(ruleId: string): Promise<PushRuleVersion[]> {
    return listPushRuleVersions(this.pool, ruleId);
  }

  /** Quiet-hours versions, newest first. */
  quietHoursVersions(): Promise<QuietHoursView[]> {
    return listQuietHoursVersions(this.pool);
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
