import type { CatalogItem } from '@elevens/domain';
import { type UpsertedItem, upsertItems } from '../catalog';
import type { Pool } from '../pool';

/** The catalog's items in Postgres: what exists, and whether it may be served. */
export class CatalogItems {
  constructor(private readonly pool: Pool) {}

  /** Inserts or updates items (fields left out keep their stored values); each item's servability after it. */
  upsert(items: readonly CatalogItem[]): Promise<UpsertedItem[]> {
    return upsertItems(this.pool, items);
  }
}
