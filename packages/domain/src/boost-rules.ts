import { z } from 'zod';
import { ExternalId } from './ids';

export const MAX_BOOSTS = 1000;
export const MAX_PINS = 100;

const Instant = z.iso.datetime({ offset: true });

const window = {
  from: Instant.optional().meta({ description: 'Start of the window (inclusive); default: always.' }),
  until: Instant.optional().meta({ description: 'End of the window (exclusive); default: forever.' }),
};

const windowIsOrdered = (rule: { from?: string | undefined; until?: string | undefined }) =>
  rule.from === undefined || rule.until === undefined || Date.parse(rule.from) < Date.parse(rule.until);

/** Multiplies the score of one item, or of every item of a category, while the window is open. */
export const Boost = z
  .object({
    category: ExternalId.optional(),
    itemId: ExternalId.optional(),
    factor: z.number().positive().max(100).meta({ description: '×1.5 raises, ×0.5 demotes.' }),
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
  .object({
    itemId: ExternalId,
    position: z.number().int().min(1).max(100).meta({
      description:
        '1 = first. Where several pins ask for one position the earlier takes it and the later the next free one; a pin the answer cannot show (bought, blocked, excluded) leaves its position to the next pin asking for it.',
    }),
    ...window,
  })
  .refine(windowIsOrdered, { message: 'from must be before until' })
  .meta({ id: 'Pin' });
export type Pin = z.infer<typeof Pin>;

export const BoostRules = z
  .object({
    boosts: z.array(Boost).max(MAX_BOOSTS).default([]),
    pins: z.array(Pin).max(MAX_PINS).default([]),
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
