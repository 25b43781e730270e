import { z } from 'zod';
import { Placement } from './experiments';
import { ExternalId } from './ids';

export const RECOMMENDATION_SOURCES = [
  'personal',
  'similar',
  'bought_together',
  'trending',
  'popular',
  'pinned',
] as const;
export const RecommendationSource = z.enum(RECOMMENDATION_SOURCES);
export type RecommendationSource = z.infer<typeof RecommendationSource>;

export const RecommendationContext = z.enum(['home', 'product', 'cart']);
export type RecommendationContext = z.infer<typeof RecommendationContext>;

/** The most item ids one request may exclude, `exclude` and `excludeItem` together. */
export const MAX_EXCLUDED = 200;

const commaSeparatedIds = z
  .string()
  .max(8192)
  .transform((value) => value.split(',').filter((id) => id.length > 0))
  .pipe(z.array(ExternalId).max(MAX_EXCLUDED));

export const RecommendationsQuery = z.object({
  userId: ExternalId,
  limit: z.coerce.number().int().min(1).max(100).default(10),
  context: RecommendationContext.default('home').meta({
    description:
      "home: from the user's history; product: also the viewed product's similar items; cart: also what is bought together with the cart's item. product and cart need itemId.",
  }),
  itemId: ExternalId.optional().meta({
    description:
      "The product page's item (context=product) or the cart's (context=cart), never answered back; refused (400) with context=home.",
  }),
  category: ExternalId.optional().meta({
    description: 'Only items of this category (the per-category cap then does not apply).',
  }),
  exclude: commaSeparatedIds.optional().meta({
    description:
      'Comma-separated item ids never to answer, such as those already on the page (up to 200 with excludeItem). An id holding a comma goes in excludeItem.',
  }),
  excludeItem: z
    .union([ExternalId.transform((itemId) => [itemId]), z.array(ExternalId).max(MAX_EXCLUDED)])
    .optional()
    .meta({
      description:
        'One item id never to answer, whole (commas included); repeat the parameter for several (excludeItem=a&excludeItem=b%2Cc). Adds to exclude: up to 200 ids in all.',
    }),
  cursor: z.string().max(512).optional().meta({
    description: 'The nextCursor of the previous page, for the page after it.',
  }),
  placement: Placement.optional().meta({
    description:
      "The storefront's name for this slot (e.g. pdp-bottom): an experiment on that placement applies, and answer ids carry it for the reports; default: the context.",
  }),
  offerSeen: z
    .union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')])
    .optional()
    .meta({
      description:
        'Offer items of the user\'s history they have not bought ("pick up where you left off"); default false.',
    }),
});
export type RecommendationsQuery = z.infer<typeof RecommendationsQuery>;

export const RecommendedItem = z.object({
  itemId: ExternalId,
  score: z.number(),
  source: RecommendationSource.meta({
    description:
      "Where the item comes from: personal (the user's history), similar (the page's item), bought_together (the cart's item), trending or popular (fallback lists), pinned (a merchandiser's pin, whatever list also holds the item: a featured or paid placement, to be labelled as such). pinned was added later than the others and more values may follow: show an unknown one as a plain recommendation.",
  }),
  because: z.array(ExternalId).optional().meta({
    description:
      "The items of the user's history (or the page's item) that led to this one, strongest first; only items that may be shown: a blocked or unavailable item is never named.",
  }),
});
export type RecommendedItem = z.infer<typeof RecommendedItem>;

export const RecommendationsReply = z
  .object({
    recommendationId: z.string(),
    userId: ExternalId,
    modelVersion: z.string().nullable(),
    personalized: z.boolean(),
    degraded: z.boolean(),
    experiment: z.string().optional().meta({ description: 'The experiment this user is in here, if any.' }),
    arm: z.string().optional().meta({ description: "The user's arm of that experiment." }),
    modelFallback: z.literal(true).optional().meta({
      description:
        'Present when the arm names a model that is not published (or not loaded yet): the answer comes from the default model, which modelVersion names.',
    }),
    items: z.array(RecommendedItem),
    nextCursor: z.string().optional(),
  })
  .meta({ id: 'RecommendationsReply' });
export type RecommendationsReply = z.infer<typeof RecommendationsReply>;

/**
 * The version of RecommendationsReply's wire form: bump it whenever an answer's JSON changes (a field, a value,
 * what one means). The api's reply cache keys its entries by it, so that answers another release cached in Redis
 * (before an upgrade, or beside it in a rolling deploy) are never served in their old form.
 */
export const RECOMMENDATIONS_REPLY_FORMAT = 2;

/** `limit` of the item and trending lists. */
const ListLimit = z.coerce.number().int().min(1).max(100).default(10);

export const ItemParams = z.object({ itemId: ExternalId });
export type ItemParams = z.infer<typeof ItemParams>;

export const ItemListQuery = z.object({ limit: ListLimit });
export type ItemListQuery = z.infer<typeof ItemListQuery>;

export const TrendingQuery = z.object({ category: ExternalId.optional(), limit: ListLimit });
export type TrendingQuery = z.infer<typeof TrendingQuery>;

export const ScoredItem = z.object({ itemId: ExternalId, score: z.number(), source: RecommendationSource });
export type ScoredItem = z.infer<typeof ScoredItem>;

/** Items related to one item (similar, bought together), or trending items. */
export const ItemListReply = z
  .object({
    itemId: ExternalId.optional(),
    category: ExternalId.optional(),
    modelVersion: z.string().nullable(),
    items: z.array(ScoredItem),
  })
  .meta({ id: 'ItemListReply' });
export type ItemListReply = z.infer<typeof ItemListReply>;
