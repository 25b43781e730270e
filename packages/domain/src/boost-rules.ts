import { z } from 'zod';
import { ExternalId } from './ids';

export const MAX_BOOSTS = 1000;
export const MAX_PINS = 100;

const Instant = z.iso.datetime({ offset: true });

const window = {
  from: Instant.optional().meta({ description: 'Start of the window (inclusive); default: always.' }),
  until: Instant.optional().meta({ description: 'End of the window (exclusive); default: forever.' }),
};

/** Boosts multiply the scores the served model gives; pins also take catalog items put since its build. */
const BOOSTED_ITEM =
  'A boost of an item put with PUT /v1/items after the served model was built applies from the first build that holds it (a score to multiply comes from the model).';
const PINNED_ITEM =
  'Any catalog item that may be served: one put with PUT /v1/items after the served model was built is pinned from the next poll.';

const windowIsOrdered = (rule: { from?: string | undefined; until?: string | undefined }) =>
  rule.from === undefined || rule.until === undefined || Date.parse(rule.from) < Date.parse(rule.until);

/**
 * Multiplies the score of one item, or of every item of a category, while the window is open. Rules are strict
 * objects: a misspelt `from` or `until` would otherwise be dropped, leaving a rule that is always open.
 */
export const Boost = z
  .strictObject({
    category: ExternalId.optional(),
    itemId: ExternalId.optional().meta({ description: BOOSTED_ITEM }),
    factor: z.number().positive().max(100).meta({
      description:
        '×1.5 raises, ×0.5 demotes. Boosts of one item, or of an item and its category, that are open at once multiply.',
    }),
    ...window,
  })
  .refine((b) => (b.category === undefined) !== (b.itemId === undefined), {
    message: 'a boost names exactly one of category or itemId',
  })
  .refine(windowIsOrdered, { message: 'from must be before until' })
  .meta({ id: 'Boost' });
export type Boost = z.infer<typeof Boost>;

/** Puts an item at a fixed position (1 = first) of every answer it is eligible for, while the window is open. */
export const Pin = z
  .strictObject({
    itemId: ExternalId.meta({ description: PINNED_ITEM }),
    position: z.number().int().min(1).max(100).meta({
      description:
        '1 = first. Where several pins ask for one position the earlier takes it and the later the next free one; a pin the answer cannot show (bought, blocked, excluded) leaves its position to the next pin asking for it.',
    }),
    ...window,
  })
  .refine(windowIsOrdered, { message: 'from must be before until' })
  .meta({ id: 'Pin' });
export type Pin = z.infer<typeof Pin>;

const IGNORED = {
  description:
    'What GET answers, ignored: its answer can be edited and sent back (send If-Match to refuse a change made meanwhile).',
};

/**
 * The whole set, replacing the stored one: strict, so a misspelt `boosts` or `pins` does not store an empty list;
 * the other fields of GET's answer are taken and ignored.
 */
export const BoostRules = z
  .strictObject({
    boosts: z.array(Boost).max(MAX_BOOSTS).default([]),
    pins: z.array(Pin).max(MAX_PINS).default([]),
    version: z.number().int().optional().meta(IGNORED),
    updatedBy: z.string().nullable().optional().meta(IGNORED),
    updatedAt: z.string().nullable().optional().meta(IGNORED),
    unservableItems: z.array(z.unknown()).optional().meta(IGNORED),
  })
  .meta({ id: 'BoostRules' });
export type BoostRules = z.output<typeof BoostRules>;
export type BoostRulesInput = z.input<typeof BoostRules>;

/** An item a boost or pin names that cannot be served, and why. */
export const UnservableRuleItem = z
  .object({
    itemId: ExternalId,
    reason: z.enum(['not_in_catalog', 'blocked', 'unavailable']).meta({
      description:
        'not_in_catalog: neither the catalog (PUT /v1/items) nor the served model holds it (a typo, or not put yet); blocked or unavailable: as the catalog says now.',
    }),
  })
  .meta({ id: 'UnservableRuleItem' });
export type UnservableRuleItem = z.infer<typeof UnservableRuleItem>;

/** The stored rule set: what it is, which version, who set it and when. */
export const BoostRulesReply = z
  .object({
    version: z.number().int(),
    boosts: z.array(Boost),
    pins: z.array(Pin),
    updatedBy: z.string().nullable(),
    updatedAt: z.string().nullable(),
    unservableItems: z.array(UnservableRuleItem).optional().meta({
      description:
        'Present when the boosts and pins name items that cannot be served now: their rules apply only once the catalog puts them, or makes them servable again.',
    }),
  })
  .meta({ id: 'BoostRulesReply' });
export type BoostRulesReply = z.infer<typeof BoostRulesReply>;

export const BoostRulesQuery = z.object({
  version: z.coerce.number().int().min(1).optional().meta({
    description:
      'An earlier stored version (404 if none): send its boosts and pins back with PUT to roll back to it. Default: the version in force.',
  }),
});
export type BoostRulesQuery = z.infer<typeof BoostRulesQuery>;
