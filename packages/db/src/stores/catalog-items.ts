import type { CatalogItem } from '@elevens/domain';
import { type UpsertedItem, upsertItems } from '../catalog';
import { type Pool, withTransaction } from '../pool';

/** The catalog's items in Postgres: what exists, and whether it may be served. */
export class CatalogItems {
  constructor(private readonly pool: Pool) {}

  /**
   * Inserts or updates items (fields left out keep their stored values) and hands each item's servability to
   * `mirror` before the commit, while the rows are locked: a concurrent write of the same items waits, so the
   * mirrors run in the order Postgres commits (mirrored after commit, a block and an unblock could land in the
   * other order and serve a blocked item). When `mirror` fails, nothing is committed.
   */
  upsert(
    items: readonly CatalogItem[],
    mirror: (upserted: UpsertedItem[]) => Promise<void>,
  ): Promise<UpsertedItem[]> {
    return withTransaction(this.pool, async (client) => {
      const upserted = await upsertItems(client, items);
      await mirror(upserted);
      return upserted;
    });
  }
}
