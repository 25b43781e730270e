import { z } from 'zod';
import { ExperimentId, Placement } from './experiments';
import { ExternalId } from './ids';

const Instant = z.iso.datetime({ offset: true });
/** Longest report window: a year and a day of hourly roll-ups. */
export const MAX_REPORT_SPAN_MS = 367 * 86_400_000;

const windowIsValid = (query: { from: string; to: string }) => {
  const span = Date.parse(query.to) - Date.parse(query.from);
  return span > 0 && span <= MAX_REPORT_SPAN_MS;
};
const WINDOW_PROBLEM = {
  message: 'to must be after from, and the window at most 367 days',
  path: ['to'],
};

export const RECOMMENDATION_REPORT_GROUPS = [
  'arm',
  'hour',
  'modelVersion',
  'placement',
  'experiment',
] as const;
export const RecommendationReportGroup = z.enum(RECOMMENDATION_REPORT_GROUPS);
export type RecommendationReportGroup = z.infer<typeof RecommendationReportGroup>;

const window = {
  from: Instant.meta({
    description:
      'Start of the window; the whole UTC hours [from, to) overlaps are counted, and the answer gives their bounds.',
  }),
  to: Instant.meta({ description: 'End (exclusive).' }),
};

export const RecommendationsReportQuery = z
  .object({
    ...window,
    groupBy: RecommendationReportGroup.default('arm'),
    experiment: ExperimentId.optional(),
    placement: Placement.optional(),
  })
  .refine(windowIsValid, WINDOW_PROBLEM);
export type RecommendationsReportQuery = z.infer<typeof RecommendationsReportQuery>;

export const PUSH_REPORT_GROUPS = ['campaign', 'hour'] as const;
export const PushReportQuery = z
  .object({
    ...window,
    groupBy: z.enum(PUSH_REPORT_GROUPS).default('campaign'),
    campaign: ExternalId.optional(),
  })
  .refine(windowIsValid, WINDOW_PROBLEM);
export type PushReportQuery = z.infer<typeof PushReportQuery>;

const Interval = z.tuple([z.number(), z.number()]).meta({ description: '95 % interval [low, high].' });

/** What a report's intervals and p-values take as independent samples (docs/attribution.md). */
export const TestedPer = z.enum(['user', 'impression']).meta({
  description:
    "user: each user's sums over the window are one sample (delta method), as an experiment randomises users; the arms of one experiment are tested so. impression: each impression is one (Wilson intervals, two-proportion, Fisher's and Welch's tests).",
});

/**
 * Attributed counts of one group and what follows from them; rates are null without impressions, intervals and
 * p-values also when the counts are no proportion (more clicks or purchases than impressions). Intervals and
 * p-values are per user or per impression as the report's `testedPer` says.
 */
export const ReportGroup = z
  .object({
    group: z
      .string()
      .nullable()
      .meta({ description: 'The group value (an ISO hour for groupBy=hour); null: none.' }),
    users: z.number().int().nullable().meta({
      description:
        'Users with an attributed impression, click or purchase in the group; null unless testedPer is user.',
    }),
    impressions: z.number().int(),
    clicks: z.number().int(),
    ctr: z.number().nullable().meta({ description: 'Clicks per impression.' }),
    ctrInterval: Interval.nullable().meta({
      description:
        '95 % interval of ctr: delta method over users (testedPer user), else Wilson; null without impressions or with more clicks than impressions.',
    }),
    addToCarts: z.number().int(),
    purchases: z.number().int(),
    units: z.number().int(),
    conversionRate: z.number().nullable().meta({ description: 'Attributed purchases per impression.' }),
    conversionInterval: Interval.nullable().meta({
      description: '95 % interval of conversionRate, as ctrInterval.',
    }),
    revenue: z.number(),
    revenuePerImpression: z.number().nullable(),
    pValue: z.number().nullable().meta({
      description:
        "CTR against the reference group, Holm-adjusted over the groups compared; null for the reference. testedPer user: the delta-method t-test over the users' sums; impression: the two-proportion z-test, Fisher's exact test when a cell expects fewer than 5 (each impression an independent sample: an arm carried by a few heavy users looks surer than it is).",
    }),
    revenuePValue: z.number().nullable().meta({
      description:
        "Revenue per impression against the reference group, Holm-adjusted over the groups compared: the delta-method t-test over users' sums (testedPer user), else Welch's t-test over impressions.",
    }),
  })
  .meta({ id: 'ReportGroup' });
export type ReportGroup = z.infer<typeof ReportGroup>;

export const ArmReport = ReportGroup.omit({ group: true })
  .extend({ arm: z.string().nullable() })
  .meta({ id: 'ArmReport' });
export type ArmReport = z.infer<typeof ArmReport>;

export const RecommendationsReport = z
  .object({
    from: z.string(),
    to: z.string(),
    groupBy: RecommendationReportGroup,
    experiment: z.string().nullable(),
    placement: z.string().nullable(),
    testedPer: TestedPer,
    reference: z
      .string()
      .nullable()
      .meta({ description: 'The group the per-group p-values compare against.' }),
    groups: z.array(ReportGroup),
    arms: z.array(ArmReport).optional().meta({ description: 'The groups again, by arm (groupBy=arm only).' }),
    pValue: z.number().nullable().meta({
      description:
        "CTR differs between the groups. testedPer user: the Wald χ² test of equal ratios over the users' sums, for two groups the pValue's t-test; impression: χ² test of homogeneity, for two groups the z-test, or Fisher's exact test when a cell expects fewer than 5.",
    }),
    conversionPValue: z
      .number()
      .nullable()
      .meta({ description: 'Purchases per impression differ, as pValue.' }),
    /** roll-ups are current up to this instant: events received later are not counted yet */
    countedUntil: z.string().nullable(),
  })
  .meta({ id: 'RecommendationsReport' });
export type RecommendationsReport = z.infer<typeof RecommendationsReport>;

/**
 * Decisions and attributed counts of one push group, with what follows from them per send: a push is sent, and
 * storefronts seldom post an impression of it, so rates, intervals and tests count sends, never impressions.
 */
export const PushReportGroup = z
  .object({
    group: z
      .string()
      .nullable()
      .meta({ description: 'The campaign, or an ISO hour for groupBy=hour; null: none.' }),
    sends: z
      .number()
      .int()
      .meta({ description: 'Decisions allowed (reason ok), less those the sender released (not sent).' }),
    suppressed: z.record(z.string(), z.number().int()).meta({ description: 'Refused decisions by reason.' }),
    impressions: z.number().int().meta({
      description:
        'Impression events posted for the pushes (where the storefront posts them); no rate counts them.',
    }),
    clicks: z.number().int().meta({ description: 'Click events: the pushes opened.' }),
    clickRate: z.number().nullable().meta({ description: 'Clicks per send; null without sends.' }),
    clickInterval: Interval.nullable().meta({
      description:
        'Wilson 95 % interval of clicks per send; null without sends or with more clicks than sends.',
    }),
    addToCarts: z.number().int(),
    purchases: z.number().int(),
    units: z.number().int(),
    conversionRate: z.number().nullable().meta({ description: 'Attributed purchases per send.' }),
    conversionInterval: Interval.nullable(),
    revenue: z.number(),
    revenuePerSend: z.number().nullable(),
    pValue: z.number().nullable().meta({
      description:
        "Clicks per send against the reference group: two-proportion z-test, Fisher's exact test when a cell expects fewer than 5; Holm-adjusted over the groups compared; null for the reference.",
    }),
    revenuePValue: z.number().nullable().meta({
      description:
        'Revenue per send against the reference group: Welch t-test, Holm-adjusted over the groups compared.',
    }),
  })
  .meta({ id: 'PushReportGroup' });
export type PushReportGroup = z.infer<typeof PushReportGroup>;

export const PushReport = z
  .object({
    from: z.string(),
    to: z.string(),
    groupBy: z.enum(PUSH_REPORT_GROUPS),
    campaign: z.string().nullable(),
    reference: z.string().nullable(),
    groups: z.array(PushReportGroup),
    pValue: z.number().nullable().meta({
      description:
        "Clicks per send differ between the groups: χ² test of homogeneity; for two groups the z-test, or Fisher's exact test when a cell expects fewer than 5.",
    }),
    conversionPValue: z
      .number()
      .nullable()
      .meta({ description: 'Purchases per send differ between the groups.' }),
    countedUntil: z.string().nullable(),
  })
  .meta({ id: 'PushReport' });
export type PushReport = z.infer<typeof PushReport>;
