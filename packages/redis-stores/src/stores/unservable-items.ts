import { execOrThrow, type RedisClient } from '../client';
import type { RedisKeys } from '../keys';
import { LuaScript } from '../turn-batch';

/** What Redis holds of the unservable set: its version and whether it is known whole. */
export interface UnservableCopyState {
  /** the version counter; null when missing */
  version: string | null;
  /** false until a restore from Postgres marked the set whole (Redis lost its data, or never had it) */
  complete: boolean;
}

/** What serving processes poll: the version, the whole mark and the writes not yet confirmed committed. */
export interface UnservableCopyPoll extends UnservableCopyState {
  /** ids of catalog writes applied to the set before their commit and not confirmed since */
  unconfirmed: string[];
}

/** What a catalog write's `record` left: the set's new version, and whether the set is whole. */
export interface RecordedUnservable {
  version: number;
  whole: boolean;
}

/** Ids per SADD of a restore: a large catalog's set goes in several commands of one transaction. */
const RESTORE_CHUNK = 1000;

/** Sent by EVALSHA, by its text when Redis does not hold it: catalog writes are few, the script small. */
const recordScript = new LuaScript('record-unservable-items');

/**
 * The catalog's unservable items (blocked or unavailable) in Redis, with a version counter bumped on every
 * change, so serving processes poll one small key and reload the set only when it moved, and a mark that the set
 * is whole. Catalog writes apply their changes to the set; only a restore from Postgres (`replace`) sets the mark,
 * so a set rebuilt by writes after Redis lost its data is never taken for the whole one, and a write that finds the
 * set older than Postgres's newest copied version clears it (record-unservable-items.lua). Each write marks its id
 * unconfirmed with its change until it committed (`confirm`), as the rule copies do (committedCopy in the api): a
 * mark left behind has an api's poll restore the set. The keys share a hash tag: each write and read is one
 * transaction or script.
 */
export class UnservableItems {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Mirrors items' servability of a catalog write and bumps the version; rejects when a command failed. Not whole
   * when the set was not marked whole, or when the new version is at most `newestCopied` (the newest version
   * Postgres holds as copied: this Redis went back, a failover to a replica that lagged), which clears the mark:
   * either way it must be restored from Postgres (`replace`) for readers to trust it. `changeId` is marked
   * unconfirmed in the same step (`confirm` clears it once the write committed).
   */
  async record(
    items: readonly { itemId: string; servable: boolean }[],
    newestCopied: number,
    changeId: string,
  ): Promise<RecordedUnservable> {
    const { keys } = this;
    const unservable = items.filter((item) => !item.servable).map((item) => item.itemId);
    const servable = items.filter((item) => item.servable).map((item) => item.itemId);
    const args = [
      keys.catalogUnservable(),
      keys.catalogVersion(),
      keys.catalogComplete(),
      keys.catalogUnconfirmed(),
      newestCopied,
      changeId,
      unservable.length,
      ...unservable,
      ...servable,
    ];
    const reply = (await this.redis.evalsha(recordScript.sha, 4, ...args).catch((error: unknown) => {
      if (!String(error).includes('NOSCRIPT')) throw error;
      return this.redis.eval(recordScript.lua, 4, ...args);
    })) as [number, number];
    return { whole: reply[0] === 1, version: reply[1] };
  }

  /** Clears the mark of catalog write `changeId`, once it committed. */
  async confirm(changeId: string): Promise<void> {
    await this.redis.srem(this.keys.catalogUnconfirmed(), changeId);
  }

  /**
   * Clears the mark that the set is whole: a catalog write found its version already copied by another committed
   * write (two writes copied one version to two Redis histories), so this set lacks one of them.
   */
  async markPartial(): Promise<void> {
    await this.redis.del(this.keys.catalogComplete());
  }

  /** The version, whether the set is marked whole and the unconfirmed writes, in one round trip. */
  async state(): Promise<UnservableCopyPoll> {
    const { keys } = this;
    const [version, complete, unconfirmed] = await execOrThrow(
      this.redis
        .multi()
        .get(keys.catalogVersion())
        .exists(keys.catalogComplete())
        .smembers(keys.catalogUnconfirmed()),
    );
    return {
      version: version as string | null,
      complete: complete === 1,
      unconfirmed: unconfirmed as string[],
    };
  }

  /** The set with its version and mark, read together. */
  async read(): Promise<UnservableCopyState & { itemIds: string[] }> {
    const { keys } = this;
    const [version, complete, itemIds] = await execOrThrow(
      this.redis
        .multi()
        .get(keys.catalogVersion())
        .exists(keys.catalogComplete())
        .smembers(keys.catalogUnservable()),
    );
    return { version: version as string | null, complete: complete === 1, itemIds: itemIds as string[] };
  }

  /**
   * Replaces the set with every unservable item Postgres holds, sets the version, marks the set whole and clears
   * every unconfirmed mark, in one transaction. The caller reads `itemIds` while no catalog write is in flight
   * (`CatalogItems.restoreUnservable`), so no write is between its change and its commit.
   */
  async replace(itemIds: readonly string[], version: number): Promise<void> {
    const { keys } = this;
    const transaction = this.redis.multi().del(keys.catalogUnservable(), keys.catalogUnconfirmed());
    for (let from = 0; from < itemIds.length; from += RESTORE_CHUNK)
      transaction.sadd(keys.catalogUnservable(), ...itemIds.slice(from, from + RESTORE_CHUNK));
    transaction.set(keys.catalogVersion(), String(version)).set(keys.catalogComplete(), '1');
    await execOrThrow(transaction);
  }
}
