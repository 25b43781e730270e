import { z } from 'zod';
import { ExternalId, isExternalId, MAX_EXTERNAL_ID_LENGTH } from './ids';

export const PUSH_CHANNELS = ['push', 'email', 'sms', 'inapp'] as const;
export const PushChannel = z.enum(PUSH_CHANNELS);
export type PushChannel = z.infer<typeof PushChannel>;
export const PushRuleChannel = z.enum([...PUSH_CHANNELS, 'any']);
export type PushRuleChannel = z.infer<typeof PushRuleChannel>;

export const PUSH_REASONS = [
  'ok',
  'cap_exceeded',
  'quiet_hours',
  'no_consent',
  'duplicate_campaign',
  'unavailable',
] as const;
export const PushReason = z.enum(PUSH_REASONS);
export type PushReason = z.infer<typeof PushReason>;

/**
 * What the push decision counts count: each decision by its reason, and each release of an allowed decision
 * (`released`, counted in the decision's hour), so the messages sent are `ok` − `released`.
 */
export const PUSH_STATS_REASONS = [...PUSH_REASONS, 'released'] as const;
export const PushStatsReason = z.enum(PUSH_STATS_REASONS);
export type PushStatsReason = z.infer<typeof PushStatsReason>;

const Instant = z.iso.datetime({ offset: true });

export const PushRuleId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, '1–64 letters, digits and _ . : -');
export const PushRuleParams = z.object({ ruleId: PushRuleId });

/** A rolling window: a number and m, h or d (at most 31 days). */
export const PushWindow = z
  .string()
  .regex(/^[1-9]\d{0,4}[mhd]$/, 'a rolling window such as 30m, 1h, 24h or 7d')
  .meta({ example: '24h' });

export const PushRuleBody = z
  .object({
    channel: PushRuleChannel.meta({ description: '"any" counts and caps every channel together.' }),
    limit: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .meta({ description: 'Messages allowed per window; 0 blocks.' }),
    window: PushWindow,
    category: ExternalId.optional().meta({
      description: 'Only messages with this category count and are capped.',
    }),
    activeFrom: Instant.optional().meta({ description: 'The rule applies from here (inclusive).' }),
    activeUntil: Instant.optional().meta({ description: 'The rule stops applying here (exclusive).' }),
    enabled: z.boolean().default(true),
  })
  .refine(
    (r) =>
      r.activeFrom === undefined ||
      r.activeUntil === undefined ||
      Date.parse(r.activeFrom) < Date.parse(r.activeUntil),
    { message: 'activeFrom must be before activeUntil', path: ['activeUntil'] },
  )
  .meta({ id: 'PushRuleBody' });
export type PushRuleBody = z.infer<typeof PushRuleBody>;

export const PushRuleView = z
  .object({
    ruleId: PushRuleId,
    channel: PushRuleChannel,
    limit: z.number().int(),
    window: z.string(),
    category: z.string().optional(),
    activeFrom: z.string().optional(),
    activeUntil: z.string().optional(),
    enabled: z.boolean(),
    version: z.number().int(),
    updatedBy: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'PushRule' });
export type PushRuleView = z.infer<typeof PushRuleView>;

const Clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day HH:MM (00:00–23:59)');

export const QuietHoursBody = z
  .object({
    start: Clock.meta({ example: '22:00' }),
    end: Clock.meta({ example: '08:00', description: 'Exclusive; before start when spanning midnight.' }),
    channels: z.array(PushRuleChannel).min(1).max(5),
    enabled: z.boolean().default(true),
  })
  .meta({ id: 'QuietHoursBody' });
export type QuietHoursBody = z.infer<typeof QuietHoursBody>;

export const QuietHoursView = z
  .object({
    start: z.string(),
    end: z.string(),
    channels: z.array(PushRuleChannel),
    enabled: z.boolean(),
    version: z.number().int(),
    updatedBy: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'QuietHours' });
export type QuietHoursView = z.infer<typeof QuietHoursView>;

export const PushRulesReply = z.object({
  rules: z.array(PushRuleView),
  quietHours: QuietHoursView.nullable(),
});
export type PushRulesReply = z.infer<typeof PushRulesReply>;

export const PushRuleVersion = z.object({
  version: z.number().int(),
  definition: z
    .record(z.string(), z.unknown())
    .nullable()
    .meta({ description: 'null: the rule was deleted.' }),
  author: z.string(),
  changedAt: z.string(),
});
/** Versions a history page holds at most, and by default. */
export const MAX_VERSIONS_PAGE = 1000;
export const DEFAULT_VERSIONS_PAGE = 100;

/** One page of a history, newest first: the next page is read with `before` set to the answer's `nextBefore`. */
export const VersionsQuery = z.object({
  before: z.coerce
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1)
    .optional()
    .meta({
      description:
        "Only versions older than this one: the previous page's nextBefore. Default: from the newest.",
    }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_VERSIONS_PAGE)
    .default(DEFAULT_VERSIONS_PAGE)
    .meta({
      description: `Versions in the page, 1–${MAX_VERSIONS_PAGE} (default ${DEFAULT_VERSIONS_PAGE}).`,
    }),
});
export type VersionsQuery = z.infer<typeof VersionsQuery>;

const nextBefore = z
  .number()
  .int()
  .nullable()
  .meta({ description: 'The before of the next, older page; null when this page holds the oldest version.' });

export const PushRuleVersionsReply = z.object({
  ruleId: PushRuleId,
  versions: z.array(PushRuleVersion),
  nextBefore,
});
export type PushRuleVersionsReply = z.infer<typeof PushRuleVersionsReply>;

export const QuietHoursVersionsReply = z.object({
  current: QuietHoursView.nullable().meta({ description: 'The version in force, whichever page is read.' }),
  versions: z.array(QuietHoursView),
  nextBefore,
});
export type QuietHoursVersionsReply = z.infer<typeof QuietHoursVersionsReply>;

export const DeletePushRuleReply = z.object({ ruleId: PushRuleId, deleted: z.boolean() });

export const PushDecisionRequest = z
  .object({
    userId: ExternalId,
    channel: PushChannel,
    campaignId: ExternalId,
    category: ExternalId.optional(),
    priority: z.enum(['low', 'normal', 'high']).default('normal').meta({
      description: 'low leaves the last slot of each rule (limit > 1) to normal and high messages.',
    }),
    transactional: z
      .boolean()
      .default(false)
      .meta({ description: 'Exempt from caps and quiet hours, not consent.' }),
    dryRun: z.boolean().default(false).meta({ description: 'Evaluate without reserving or counting.' }),
    withItem: z.boolean().default(false).meta({ description: 'Also return the best item to push.' }),
    overrideCaps: z
      .boolean()
      .default(false)
      .meta({ description: 'Skip caps and quiet hours (still reserved and counted); admin keys only.' }),
  })
  .meta({ id: 'PushDecisionRequest' });
export type PushDecisionRequest = z.infer<typeof PushDecisionRequest>;

/** The longest `Idempotency-Key` a decision takes. */
export const MAX_PUSH_RETRY_KEY_LENGTH = 128;
const PUSH_RETRY_KEY = /^[\x21-\x7e]+$/;

/** `PushDecisionHeaders`' `idempotency-key` checked by hand, for the decision's hot path. */
export const isPushRetryKey = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= MAX_PUSH_RETRY_KEY_LENGTH && PUSH_RETRY_KEY.test(value);

export const PushDecisionHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(PUSH_RETRY_KEY, '1–128 visible ASCII characters, no spaces')
    .max(MAX_PUSH_RETRY_KEY_LENGTH)
    .optional()
    .meta({
      description:
        'Makes the decision safe to retry: a retry with the same key (for the same user) within 24 hours gets the first decision again (same decisionId and verdict, nothing reserved or counted again); the same key with a different request is refused with 422. Ignored on a dry run. Use one new key per message, such as a UUID.',
    }),
});

const PUSH_CHANNEL_SET: ReadonlySet<unknown> = new Set(PUSH_CHANNELS);
const isOptionalFlag = (value: unknown): value is boolean | undefined =>
  value === undefined || typeof value === 'boolean';

/**
 * The parsed request for a body that certainly passes `PushDecisionRequest`, checked by hand; else null (the body
 * may still be valid: the schema decides, and words the error). Decisions are the hottest write path, and the
 * zod parse costs several times this check.
 */
export function pushDecisionRequestFast(raw: unknown): PushDecisionRequest | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const { userId, channel, campaignId, category, priority, transactional, dryRun, withItem, overrideCaps } =
    raw as Record<string, unknown>;
  if (
    !isExternalId(userId) ||
    !PUSH_CHANNEL_SET.has(channel) ||
    !isExternalId(campaignId) ||
    !(category === undefined || isExternalId(category)) ||
    !(priority === undefined || priority === 'low' || priority === 'normal' || priority === 'high') ||
    !isOptionalFlag(transactional) ||
    !isOptionalFlag(dryRun) ||
    !isOptionalFlag(withItem) ||
    !isOptionalFlag(overrideCaps)
  ) {
    return null;
  }
  const request: PushDecisionRequest = {
    userId,
    channel: channel as PushChannel,
    campaignId,
    priority: priority ?? 'normal',
    transactional: transactional ?? false,
    dryRun: dryRun ?? false,
    withItem: withItem ?? false,
    overrideCaps: overrideCaps ?? false,
  };
  if (category !== undefined) request.category = category;
  return request;
}

/** What a rule's `resetsAt` is, in a decision and in the budget. */
const RESETS_AT =
  'When `remaining` next grows, under the limits of the priority: while the rule has room, when the oldest counted message leaves the window; once it is full, when enough have left for one more (3 counted under a limit of 2: when the second oldest leaves); or when the rule ends, if sooner. ' +
  'null: the rule counts no message, or room never returns (a limit of 0 that never ends).';

export const PushRuleRemaining = z.object({
  ruleId: PushRuleId,
  remaining: z.number().int().meta({
    description:
      "Messages of the request's priority the rule still lets through (low priority: its last slot counts as taken).",
  }),
  resetsAt: z.string().nullable().meta({ description: RESETS_AT }),
});

export const PushItem = z.object({ itemId: ExternalId, score: z.number(), source: z.string() });

export const PushDecisionReply = z
  .object({
    decisionId: z.string(),
    attributionId: z.string().optional().meta({
      description:
        'On an allowed decision: send it as the `recommendationId` of the events the push leads to (`impression` when it is shown, `click` when it is opened, then `cart` and `purchase`), so reports count them to its campaign.',
    }),
    allowed: z.boolean(),
    reason: PushReason,
    ruleId: PushRuleId.optional(),
    retryAt: z.string().optional().meta({
      description:
        'On a refusal: the earliest instant the same request could be allowed (no longer a duplicate, every rule with room, outside quiet hours), assuming nothing else is sent; absent when there is none. On `unavailable`: when to ask again.',
    }),
    remaining: z.array(PushRuleRemaining),
    item: PushItem.nullable().optional(),
  })
  .meta({ id: 'PushDecisionReply' });
export type PushDecisionReply = z.infer<typeof PushDecisionReply>;

/**
 * The longest decision id the api issues ("uuid.instant in base 36.user id in base64url"): a uuid, at most 11
 * base-36 digits, and the user id's UTF-8 bytes (at most 3 per UTF-16 unit) in unpadded base64url.
 */
const MAX_DECISION_ID_LENGTH = 36 + 1 + 11 + 1 + Math.ceil((MAX_EXTERNAL_ID_LENGTH * 3 * 4) / 3);
export const PushDecisionParams = z.object({ decisionId: z.string().min(1).max(MAX_DECISION_ID_LENGTH) });
export const ReleasePushDecisionReply = z.object({ decisionId: z.string(), released: z.boolean() });

export const PushBudgetParams = z.object({ userId: ExternalId });
export const PushBudgetQuery = z.object({
  category: ExternalId.optional(),
  priority: PushDecisionRequest.shape.priority.meta({
    description:
      "The priority of the message planned, as a decision's: low leaves the last slot of each rule (limit > 1) to normal and high messages, so it has one fewer left.",
  }),
});
export const PushBudgetReply = z
  .object({
    userId: ExternalId,
    at: z.string(),
    timezone: z.string(),
    priority: PushDecisionRequest.shape.priority
      .unwrap()
      .meta({ description: 'The priority the figures are for.' }),
    rules: z.array(
      z.object({
        ruleId: PushRuleId,
        channel: PushRuleChannel,
        category: z.string().nullable(),
        limit: z.number().int(),
        window: z.string(),
        used: z.number().int(),
        remaining: z.number().int().meta({
          description: 'Messages of the priority asked about the rule still lets through.',
        }),
        resetsAt: z.string().nullable().meta({ description: RESETS_AT }),
      }),
    ),
    channels: z.array(
      z.object({
        channel: PushChannel,
        remaining: z.number().int().nullable().meta({
          description:
            'Messages of the category and priority asked about the channel still takes: the least over the rules that apply; null: no rule caps this channel.',
        }),
        ruleId: PushRuleId.nullable(),
        quietUntil: z.string().nullable().meta({ description: 'Set while quiet hours hold this channel.' }),
      }),
    ),
  })
  .meta({ id: 'PushBudgetReply' });
export type PushBudgetReply = z.infer<typeof PushBudgetReply>;

export const PushStatsQuery = z
  .object({ from: Instant, to: Instant })
  .refine((q) => Date.parse(q.from) < Date.parse(q.to), { message: 'from must be before to', path: ['to'] })
  .refine((q) => Date.parse(q.to) - Date.parse(q.from) <= 92 * 86_400_000, {
    message: 'at most 92 days at a time',
    path: ['to'],
  });
export const PushStatsRow = z.object({
  channel: PushChannel,
  campaignId: z.string(),
  reason: PushReason,
  count: z.number().int(),
});
export const PushStatsReply = z
  .object({
    from: z.string().meta({ description: 'Start of the first counted hour.' }),
    to: z.string().meta({ description: 'End of the last counted hour (exclusive).' }),
    total: z.number().int(),
    byChannel: z.record(z.string(), z.number().int()),
    byCampaign: z.record(z.string(), z.number().int()),
    byReason: z.record(z.string(), z.number().int()),
    rows: z.array(PushStatsRow),
    released: z.number().int().meta({
      description:
        'Allowed decisions of these hours the sender released since (not sent): sent = byReason.ok − released.',
    }),
    releasedByCampaign: z.record(z.string(), z.number().int()),
  })
  .meta({ id: 'PushStatsReply' });
export type PushStatsReply = z.infer<typeof PushStatsReply>;
