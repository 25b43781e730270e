import { z } from 'zod';
import { ExternalId } from './ids';

export const MAX_BOOSTS = 1000;
export const MAX_PINS = 100;

const Instant = z.iso.datetime({ offset: true });

const window = {
  from: Instant.optional().meta({ description: 'Start of the window (inclusive); default: always.' }),
  until: Instant.optional().meta({ description: 'End of the window (exclusive); default: forever.' }),
};

/** Rules are resolved against the served model's items, which are those with events in the build's window. */
const NOT_IN_MODEL =
  'An item the served model does not hold (no event in its build window yet, such as a product launched with the campaign) has no rule applied until a model holds it.';

const windowIsOrdered = (rule: { from?: string | undefined; until?: string | undefined }) =>
  rule.from === undefined || rule.until === undefined || Date.parse(rule.from) < Date.parse(rule.until);

/**
 * Multiplies the score of one item, or of every item of a category, while the window is open. Rules are strict
 * objects: a misspelt `from` or `until` would otherwise be dropped, leaving a rule that is always open.
 */
export const Boost = z
  .strictObject({
    category: ExternalId.optional(),
    itemId: ExternalId.optional().meta({ description: NOT_IN_MODEL }),
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
    itemId: ExternalId.meta({ description: NOT_IN_MODEL }),
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
  })
  .meta({ id: 'BoostRules' });
export type BoostRules = z.output<typeof BoostRules>;
export type BoostRulesInput = z.input<typeof BoostRules>;

/** The stored rule set: what it is, which version, who set it and when. */
export const BoostRulesReply = z
  .object({
    version: z.number().int(),
    boosts: z.array(Boost),
    pins: z.array(Pin),
    updatedBy: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .meta({ id: 'BoostRulesReply' });
export type BoostRulesReply = z.infer<typeof BoostRulesReply>;

/** One entity tag as GET answers it (the version, quoted); `W/` too, which a compressing proxy may add. */
const ENTITY_TAG = /^(?:W\/)?"(\d{1,15})"$/;
const IF_MATCH = /^(?:\*|(?:W\/)?"\d{1,15}"(?:[ \t]*,[ \t]*(?:W\/)?"\d{1,15}")*)$/;

export const BoostRulesPutHeaders = z.looseObject({
  'if-match': z
    .string()
    .trim()
    .regex(IF_MATCH, 'the version GET answered as ETag, quoted (such as "7"), a list of them, or *')
    .optional()
    .meta({
      description:
        'Stores the change only while the version in force is the one named (the ETag GET answered): else 412, nothing stored, with the version in force. Without it the last write wins.',
    }),
});

/** The versions an If-Match header that `BoostRulesPutHeaders` let through names; undefined for `*` or none. */
export function ifMatchVersions(header: string | undefined): number[] | undefined {
  const value = header?.trim();
  if (value === undefined || value === '*') return undefined;
  return value.split(',').map((tag) => Number(ENTITY_TAG.exec(tag.trim())![1]));
}

export const BoostRulesQuery = z.object({
  version: z.coerce.number().int().min(1).optional().meta({
    description:
      'An earlier stored version (404 if none): send its boosts and pins back with PUT to roll back to it. Default: the version in force.',
  }),
});
export type BoostRulesQuery = z.infer<typeof BoostRulesQuery>;
