import { z } from 'zod';
import { MAX_PRICE } from './events';
import { ExternalId, StoredText } from './ids';

export const MAX_ITEMS_PER_UPSERT = 1000;

export const CatalogItem = z
  .object({
    itemId: ExternalId,
    categoryId: ExternalId.optional(),
    title: StoredText.max(1000).optional(),
    price: z.number().min(0).max(MAX_PRICE).optional(),
    available: z.boolean().optional(),
    blocked: z.boolean().optional().meta({ description: 'A counterfeit or legal hold: never recommended.' }),
    tags: z.array(StoredText.min(1).max(64)).max(50).optional(),
    publishedAt: z.iso.datetime({ offset: true }).optional(),
  })
  .meta({ id: 'CatalogItem' });
export type CatalogItem = z.infer<typeof CatalogItem>;

export const UpsertItemsBody = z.object({ items: z.array(CatalogItem).min(1).max(MAX_ITEMS_PER_UPSERT) });
export type UpsertItemsBody = z.infer<typeof UpsertItemsBody>;

export const UpsertItemsReply = z.object({ upserted: z.number().int() });
export type UpsertItemsReply = z.infer<typeof UpsertItemsReply>;
