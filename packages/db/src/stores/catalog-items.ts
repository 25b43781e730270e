import type { CatalogItem } from '@elevens/domain';
import { listUnservableItems, transactionId, type UpsertedItem, upsertItems } from '../catalog';
import { type Pool, withTransaction } from '../pool';

/**
 * The serving copy of the unservable items as catalog writes keep it (`UnservableItems` in redis-stores): a set
 * with a version, marked whole only by a restore.
 */
export interface UnservableItemsCopy {
  /** Applies a write's servability; false when the copy was not marked whole (it must be restored). */
  record(items: readonly UpsertedItem[]): Promise<boolean>;
  state(): Promise<{ version: string | null; complete: boolean }>;
  /** Replaces the whole set, sets its version and marks it whole. */
  replace(itemIds: readonly string[], version: number): Promise<void>;
}

/**
 * Catalog writes hold it shared from before their first row to their commit; a restore of the unservable copy
 * holds it alone, so the items it reads are every write's that reached the copy before, committed.
 */
const SHARED_UNSERVABLE_LOCK = "SELECT pg_advisory_xact_lock_shared(hashtext('elevens.catalog_unservable'))";
const UNSERVABLE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('elevens.catalog_unservable'))";

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
   * other order and serve a blocked item). When the copy fails, nothing is committed. `copied` is false when the
   * copy was not whole (Redis lost it): the caller then restores it (`restoreUnservable`), after this commit.
   */
  upsert(
    items: readonly CatalogItem[],
    copy: Pick<UnservableItemsCopy, 'record'>,
  ): Promise<{ upserted: UpsertedItem[]; copied: boolean }> {
    return withTransaction(this.pool, async (client) => {
      await client.query(SHARED_UNSERVABLE_LOCK);
      const upserted = await upsertItems(client, items);
      return { upserted, copied: await copy.record(upserted) };
    });
  }

  /**
   * Restores `copy` to every unservable item Postgres holds unless it is marked whole (at a version of at least
   * `atLeastVersion`, which a reader that saw it go back names); true when restored. Waits for the catalog writes
   * in flight and holds new ones back meanwhile: a write that reached the copy before Redis lost it is read here
   * committed, never left out as uncommitted, and one that starts later applies its change to the restored set.
   * The version set is above the copy's and above every version an earlier copy reached (the transaction id:
   * every write that bumped a version since the last restore began before this one), so readers reload.
   */
  restoreUnservable(copy: UnservableItemsCopy, atLeastVersion?: number): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      await client.query(UNSERVABLE_LOCK);
      const state = await copy.state();
      const version = Number(state.version ?? 0);
      if (state.complete && version >= (atLeastVersion ?? 0)) return false;
      const itemIds = await listUnservableItems(client);
      const restoredVersion = Math.max(await transactionId(client), version + 1, (atLeastVersion ?? 0) + 1);
      await copy.replace(itemIds, restoredVersion);
      return true;
    });
  }
}
