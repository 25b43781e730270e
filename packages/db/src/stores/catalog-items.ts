import type { CatalogItem } from '@elevens/domain';
import { listUnservableItems, transactionId, type UpsertedItem, upsertItems } from '../catalog';
import { type Pool, type Queryable, withTransaction } from '../pool';

/**
 * The serving copy of the unservable items as catalog writes keep it (`UnservableItems` in redis-stores): a set
 * with a version, marked whole only by a restore.
 */
export interface UnservableItemsCopy {
  /**
   * Applies a write's servability and bumps the version; not whole when the copy was not marked whole, or when
   * its new version is at most `newestCopied` (it went back: the mark is cleared). Either way it must be restored.
   * Marks `changeId` unconfirmed with the change, in the same step.
   */
  record(
    items: readonly UpsertedItem[],
    newestCopied: number,
    changeId: string,
  ): Promise<{ version: number; whole: boolean }>;
  /** Clears the mark that the copy is whole. */
  markPartial(): Promise<void>;
  state(): Promise<{ version: string | null; complete: boolean }>;
  /** Replaces the whole set, sets its version, marks it whole and clears every unconfirmed mark. */
  replace(itemIds: readonly string[], version: number): Promise<void>;
}

/**
 * Catalog writes hold it shared from before their first row to their commit; a restore of the unservable copy
 * holds it alone, so the items it reads are every write's that reached the copy before, committed.
 */
const SHARED_UNSERVABLE_LOCK = "SELECT pg_advisory_xact_lock_shared(hashtext('elevens.catalog_unservable'))";
const UNSERVABLE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('elevens.catalog_unservable'))";
const TRY_UNSERVABLE_LOCK =
  "SELECT pg_try_advisory_xact_lock(hashtext('elevens.catalog_unservable')) AS locked";

const NEWEST_COPIED = 'SELECT coalesce(max(version), 0)::text AS version FROM catalog_copy_versions';

/**
 * Rows of catalog_copy_versions a write keeps below its own version: a version copied twice (to two Redis
 * histories) is one of the writes in flight when Redis failed over, far fewer than this.
 */
const COPIED_VERSIONS_KEPT = 1024;

/** The newest version of the unservable copy a committed catalog write or restore reached (0: none). */
async function newestCopied(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ version: string }>(NEWEST_COPIED);
  return Number(rows[0]!.version);
}

/** Records `version` as copied; false when a committed write had copied it already (to another Redis history). */
async function recordCopied(db: Queryable, version: number): Promise<boolean> {
  const { rowCount } = await db.query(
    'INSERT INTO catalog_copy_versions (version) VALUES ($1) ON CONFLICT DO NOTHING',
    [version],
  );
  return rowCount === 1;
}

/**
 * The unservable items Postgres committed, under the lock taken alone (no catalog write is between its copy and
 * its commit), as `CatalogItems.withCommittedUnservable` hands them to a copy.
 */
export interface CommittedUnservable {
  /** Whether the copy is marked whole at a version of at least the newest any committed write or restore copied. */
  copied(): Promise<boolean>;
  /** Replaces the copy with every unservable item Postgres holds, at a version above any it reached. */
  restore(): Promise<void>;
}

/** `CommittedUnservable` for the transaction `db`, which holds the lock alone; `atLeastVersion` as in a restore. */
function committedUnservable(
  db: Queryable,
  copy: UnservableItemsCopy,
  atLeastVersion = 0,
): CommittedUnservable {
  const versions = async () => {
    const state = await copy.state();
    const version = Number(state.version ?? 0);
    return { state, version, atLeast: Math.max(atLeastVersion, await newestCopied(db)) };
  };
  return {
    async copied() {
      const { state, version, atLeast } = await versions();
      return state.complete && version >= atLeast;
    },
    async restore() {
      const { version, atLeast } = await versions();
      const itemIds = await listUnservableItems(db);
      const restoredVersion = Math.max(await transactionId(db), version + 1, atLeast + 1);
      await copy.replace(itemIds, restoredVersion);
      await recordCopied(db, restoredVersion);
      await db.query('DELETE FROM catalog_copy_versions WHERE version < $1', [restoredVersion]);
    },
  };
}

/** What the catalog holds of one item, as `CatalogItems.lookup` reads it. */
export interface CatalogEntry {
  itemId: string;
  categoryId: string | null;
  blocked: boolean;
  available: boolean;
}

/** The catalog's items in Postgres: what exists, and whether it may be served. */
export class CatalogItems {
  constructor(private readonly pool: Pool) {}

  /** The items of `itemIds` the catalog holds (an id it does not hold is left out), in no particular order. */
  async lookup(itemIds: readonly string[]): Promise<CatalogEntry[]> {
    if (itemIds.length === 0) return [];
    const { rows } = await this.pool.query<{
      item_id: string;
      category_id: string | null;
      blocked: boolean;
      available: boolean;
    }>('SELECT item_id, category_id, blocked, available FROM items WHERE item_id = ANY($1::text[])', [
      itemIds,
    ]);
    return rows.map((r) => ({
      itemId: r.item_id,
      categoryId: r.category_id,
      blocked: r.blocked,
      available: r.available,
    }));
  }

  /**
   * Inserts or updates items (fields left out keep their stored values) and applies each item's servability to
   * `copy` before the commit, while the rows are locked: a concurrent write of the same items waits, so the
   * copy follows the order Postgres commits in (copied after commit, a block and an unblock could land in the
   * other order and serve a blocked item). When the copy fails, nothing is committed. The version the copy
   * reached is committed with the items (catalog_copy_versions), so a Redis that goes back below it is noticed.
   * `copied` is false when the copy was not whole: Redis lost it, went back below the newest version committed
   * before this write copied, or another committed write copied this write's version too (Redis failed over
   * while one of the two was in flight). The caller then restores it (`restoreUnservable`), after this commit.
   * The change is marked unconfirmed in the copy with the id `copying()` returns, called just before the copy is
   * written (committedCopy's `change` in the api): the caller confirms it once this resolves, and when this
   * rejects after `copying()` (the commit may have failed with the change in the copy: an unblock Postgres does
   * not hold), copies the committed items again (`withCommittedUnservable`); should it stop first, the mark has
   * an api's poll do it after a grace.
   */
  upsert(
    items: readonly CatalogItem[],
    copy: Pick<UnservableItemsCopy, 'record' | 'markPartial'>,
    copying: () => string,
  ): Promise<{ upserted: UpsertedItem[]; copied: boolean }> {
    return withTransaction(this.pool, async (client) => {
      await client.query(SHARED_UNSERVABLE_LOCK);
      const upserted = await upsertItems(client, items);
      // Read after the rows are locked: every write committed by now copied before this one on a Redis that did
      // not go back, so its version is below the one this write gets.
      const { version, whole } = await copy.record(upserted, await newestCopied(client), copying());
      const first = await recordCopied(client, version);
      if (!first) await copy.markPartial();
      if (version % COPIED_VERSIONS_KEPT === 0)
        await client.query('DELETE FROM catalog_copy_versions WHERE version < $1', [
          version - COPIED_VERSIONS_KEPT,
        ]);
      return { upserted, copied: whole && first };
    });
  }

  /** The newest version of the unservable copy a committed catalog write or restore reached (0: none). */
  newestCopiedVersion(): Promise<number> {
    return newestCopied(this.pool);
  }

  /**
   * Restores `copy` to every unservable item Postgres holds unless it is marked whole at a version of at least
   * the newest any committed write or restore copied (and of `atLeastVersion`, which a reader that saw it go back
   * names); true when restored. Waits for the catalog writes in flight and holds new ones back meanwhile: a write
   * that reached the copy before Redis lost it is read here committed, never left out as uncommitted, and one
   * that starts later applies its change to the restored set. The version set is above the copy's and above every
   * version an earlier copy reached (the transaction id: every write that bumped a version since the last restore
   * began before this one), so readers reload; it is recorded as copied, and every row below it pruned.
   */
  restoreUnservable(copy: UnservableItemsCopy, atLeastVersion?: number): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      await client.query(UNSERVABLE_LOCK);
      const committed = committedUnservable(client, copy, atLeastVersion);
      if (await committed.copied()) return false;
      await committed.restore();
      return true;
    });
  }

  /**
   * Runs `use` with the committed unservable items under the lock catalog writes take shared, taken alone, so what
   * it copies holds every committed write and none in flight (committedCopy's `withCommitted`); with `wait` false
   * it gives up, answering false and not running `use`, while a write holds the lock. True when `use` ran.
   */
  withCommittedUnservable(
    copy: UnservableItemsCopy,
    wait: boolean,
    use: (committed: CommittedUnservable) => Promise<void>,
  ): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      if (wait) await client.query(UNSERVABLE_LOCK);
      else {
        const { rows } = await client.query<{ locked: boolean }>(TRY_UNSERVABLE_LOCK);
        if (!rows[0]!.locked) return false;
      }
      await use(committedUnservable(client, copy));
      return true;
    });
  }
}
