import type { CatalogItem } from '@elevens/domain';
import type { Queryable } from './pool';

export interface UpsertedItem {
  itemId: string;
  /** false when the item is blocked or unavailable after the upsert */
  servable: boolean;
}

/** Statements one upsert runs at most (see upsertItems). */
const MAX_UPSERT_PASSES = 3;

/**
 * Inserts or updates items; fields a request leaves out keep their stored values (or the defaults when new). An
 * item sent more than once counts once, with the fields of all its copies (a later value wins). Returns each
 * item's resulting servability, so callers can mirror it without guessing from the request.
 */
export async function upsertItems(db: Queryable, items: readonly CatalogItem[]): Promise<UpsertedItem[]> {
  const upserted: UpsertedItem[] = [];
  // An item another writer inserted after the statement's snapshot is neither updated nor inserted by it (its
  // insert meets the conflict); a new statement sees that row and updates it.
  // Bounded: the second statement sees the other writer's committed row, unless `db` holds one snapshot (a
  // repeatable-read transaction), where passes would never see it.
  let pending = mergedById(items);
  for (let pass = 1; pending.length > 0; pass++) {
    const rows = await upsertOnce(db, pending);
    upserted.push(...rows);
    if (rows.length === pending.length) break;
    if (pass === MAX_UPSERT_PASSES)
      throw new Error(`items neither updated nor inserted: ${pending.length - rows.length}`);
    const done = new Set(rows.map((r) => r.itemId));
    pending = pending.filter((item) => !done.has(item.itemId));
  }
  return upserted;
}

/** One item per id, in first-seen order, each with the fields its copies set (the later copy's value wins). */
function mergedById(items: readonly CatalogItem[]): CatalogItem[] {
  const byId = new Map<string, CatalogItem>();
  for (const item of items) {
    const earlier = byId.get(item.itemId);
    if (earlier === undefined) {
      byId.set(item.itemId, item);
      continue;
    }
    const defined = Object.fromEntries(Object.entries(item).filter(([, value]) => value !== undefined));
    byId.set(item.itemId, { ...earlier, ...defined });
  }
  return [...byId.values()];
}

/**
 * One upsert over items with distinct ids; items it neither updated nor inserted are left out. Rows are locked in
 * item id order, as every writer of items does (the importer inserts in that order too): the update alone locks
 * them in the order it finds them, the order sent on a large table, and two writes sending the same items in
 * opposite orders deadlocked (one answered 500).
 */
async function upsertOnce(db: Queryable, items: readonly CatalogItem[]): Promise<UpsertedItem[]> {
  const itemIds = items.map((i) => i.itemId);
  await db.query('SELECT FROM items WHERE item_id = ANY($1::text[]) ORDER BY item_id FOR UPDATE', [itemIds]);
  const { rows } = await db.query<{ item_id: string; servable: boolean }>(
    `WITH u AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::boolean[], $6::boolean[],
                            $7::text[], $8::timestamptz[])
         AS u(item_id, category_id, title, price, available, blocked, tags, published_at)
     ),
     updated AS (
       UPDATE items t SET
         category_id  = coalesce(u.category_id, t.category_id),
         title        = coalesce(u.title, t.title),
         price        = coalesce(u.price, t.price),
         available    = coalesce(u.available, t.available),
         blocked      = coalesce(u.blocked, t.blocked),
         tags         = coalesce(u.tags::text[], t.tags),
         published_at = coalesce(u.published_at, t.published_at),
         updated_at   = now()
       FROM u WHERE t.item_id = u.item_id
       RETURNING t.item_id, NOT t.blocked AND t.available AS servable
     ),
     inserted AS (
       INSERT INTO items (item_id, category_id, title, price, available, blocked, tags, published_at)
       SELECT item_id, category_id, title, price, coalesce(available, true),
              coalesce(blocked, false), coalesce(tags::text[], '{}'), published_at
       FROM u WHERE item_id NOT IN (SELECT item_id FROM updated)
       ORDER BY item_id
       ON CONFLICT (item_id) DO NOTHING
       RETURNING item_id, NOT blocked AND available AS servable
     )
     SELECT * FROM updated UNION ALL SELECT * FROM inserted`,
    [
      itemIds,
      items.map((i) => i.categoryId ?? null),
      items.map((i) => i.title ?? null),
      items.map((i) => i.price ?? null),
      items.map((i) => i.available ?? null),
      items.map((i) => i.blocked ?? null),
      items.map((i) => (i.tags ? toPgTextArray(i.tags) : null)),
      items.map((i) => i.publishedAt ?? null),
    ],
  );
  return rows.map((r) => ({ itemId: r.item_id, servable: r.servable }));
}

/** A text[] literal, for passing arrays of arrays through unnest (which flattens nested arrays). */
function toPgTextArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

export interface ItemCategoryRow {
  itemId: string;
  categoryId: string | null;
}

/** Item → category for every catalog item, for per-category popularity. */
export async function listItemCategories(db: Queryable): Promise<ItemCategoryRow[]> {
  const { rows } = await db.query<{ item_id: string; category_id: string | null }>(
    'SELECT item_id, category_id FROM items',
  );
  return rows.map((r) => ({ itemId: r.item_id, categoryId: r.category_id }));
}

/** Ids of items that must never be served: blocked, or not available. */
export async function listUnservableItems(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ item_id: string }>(
    'SELECT item_id FROM items WHERE blocked OR NOT available',
  );
  return rows.map((r) => r.item_id);
}

/**
 * The transaction id of `db`'s transaction (assigning one): larger than that of every transaction that wrote
 * before it began, which makes it a version no earlier copy of the unservable set reached (see restoreUnservable).
 */
export async function transactionId(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ id: string }>('SELECT pg_current_xact_id()::text AS id');
  return Number(rows[0]!.id);
}
