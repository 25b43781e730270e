import {
  campaignAttributionKey,
  type PushReport,
  type RecommendationsReport,
  type ReportGroup,
} from '@elevens/domain';
import { holmAdjusted, homogeneityP, twoProportionP, welchP, wilsonInterval } from './tests';

/** Attributed sums of one group, as the roll-ups hold them. */
export interface GroupCounts {
  group: string | null;
  impressions: number;
  clicks: number;
  carts: number;
  purchases: number;
  units: number;
  revenue: number;
  /** sum of each attributed purchase's revenue squared, for the variance of revenue per impression */
  revenueSquares: number;
}

export interface GroupsSummary {
  reference: string | null;
  groups: ReportGroup[];
  pValue: number | null;
  conversionPValue: number | null;
}

/** The group the others are compared with: one named `control`, else the first. */
export const referenceGroup = (groups: readonly GroupCounts[]): GroupCounts | undefined =>
  groups.find((g) => g.group === 'control') ?? groups[0];

const rate = (part: number, whole: number) => (whole > 0 ? part / whole : null);

/**
 * Rates, Wilson intervals and tests of each group. CTR is clicks per impression and conversion purchases per
 * impression. Revenue per impression is compared with Welch's test, each impression one sample: a purchase's
 * revenue is its impression's value and every other impression is worth 0. Each group's p-values against the
 * reference are Holm-adjusted over the groups compared (`holmAdjusted`), so a report of many arms finds no more
 * false differences than one of two. With `compare` false (groups by hour) no test is run.
 */
export function summariseGroups(counts: readonly GroupCounts[], compare = true): GroupsSummary {
  const reference = compare ? referenceGroup(counts) : undefined;
  const moments = (g: GroupCounts) => ({ n: g.impressions, sum: g.revenue, sumOfSquares: g.revenueSquares });
  const againstReference = (test: (g: GroupCounts, r: GroupCounts) => number | null) =>
    holmAdjusted(counts.map((g) => (reference === undefined || g === reference ? null : test(g, reference))));
  const ctrP = againstReference((g, r) => twoProportionP(g.clicks, g.impressions, r.clicks, r.impressions));
  const revenueP = againstReference((g, r) => welchP(moments(g), moments(r)));
  const groups = counts.map(
    (g, i): ReportGroup => ({
      group: g.group,
      impressions: g.impressions,
      clicks: g.clicks,
      ctr: rate(g.clicks, g.impressions),
      ctrInterval: wilsonInterval(g.clicks, g.impressions),
      addToCarts: g.carts,
      purchases: g.purchases,
      units: g.units,
      conversionRate: rate(g.purchases, g.impressions),
      conversionInterval: wilsonInterval(g.purchases, g.impressions),
      revenue: Math.round(g.revenue * 100) / 100,
      revenuePerImpression: rate(g.revenue, g.impressions),
      pValue: ctrP[i] ?? null,
      revenuePValue: revenueP[i] ?? null,
    }),
  );
  return {
    reference: reference?.group ?? null,
    groups,
    pValue: compare
      ? homogeneityP(
          counts.map((g) => g.clicks),
          counts.map((g) => g.impressions),
        )
      : null,
    conversionPValue: compare
      ? homogeneityP(
          counts.map((g) => g.purchases),
          counts.map((g) => g.impressions),
        )
      : null,
  };
}

export interface ReportWindow {
  fromMs: number;
  toMs: number;
}

const HOUR_MS = 3_600_000;

/** A window of whole UTC hours: epoch hours [firstHour, endHour), and the same as instants [fromMs, toMs). */
export interface HourWindow extends ReportWindow {
  firstHour: number;
  endHour: number;
}

/**
 * The whole UTC hours that overlap [fromMs, toMs): the hours every report, the push stats and the campaign
 * report count, and the bounds they answer with. Counts are kept per hour and cannot be cut, so a window off
 * the hour is widened to the hours it touches, never narrowed: a window inside one hour counts that hour.
 */
export function hoursCovering(fromMs: number, toMs: number): HourWindow {
  const firstHour = Math.floor(fromMs / HOUR_MS);
  const endHour = Math.ceil(toMs / HOUR_MS);
  return { firstHour, endHour, fromMs: firstHour * HOUR_MS, toMs: endHour * HOUR_MS };
}

/** The wire report of recommendation roll-ups summed per group (`counts` in group order). */
export function recommendationsReportFrom(
  query: ReportWindow & {
    groupBy: RecommendationsReport['groupBy'];
    experiment: string | null;
    placement: string | null;
  },
  counts: readonly GroupCounts[],
  countedUntilMs: number | null,
): RecommendationsReport {
  const summary = summariseGroups(counts, query.groupBy !== 'hour');
  return {
    from: new Date(query.fromMs).toISOString(),
    to: new Date(query.toMs).toISOString(),
    groupBy: query.groupBy,
    experiment: query.experiment,
    placement: query.placement,
    reference: summary.reference,
    groups: summary.groups,
    ...(query.groupBy === 'arm'
      ? { arms: summary.groups.map(({ group, ...metrics }) => ({ arm: group, ...metrics })) }
      : {}),
    pValue: summary.pValue,
    conversionPValue: summary.conversionPValue,
    countedUntil: countedUntilMs === null ? null : new Date(countedUntilMs).toISOString(),
  };
}

/**
 * Push roll-ups by campaign with each group named by the campaign the decisions name: events are counted under
 * the campaign's attribution key (`campaignAttributionKey`), which stands in for a campaign too long for a push
 * answer id. A key no decision of the window names stays as it is.
 */
export function withCampaignNames<Counts extends GroupCounts>(
  counts: readonly Counts[],
  campaigns: Iterable<string>,
): Counts[] {
  const campaignOfKey = new Map<string, string>();
  for (const campaign of campaigns) {
    const key = campaignAttributionKey(campaign);
    if (key !== campaign) campaignOfKey.set(key, campaign);
  }
  if (campaignOfKey.size === 0) return [...counts];
  return counts.map((c) => {
    const campaign = c.group === null ? undefined : campaignOfKey.get(c.group);
    return campaign === undefined ? c : { ...c, group: campaign };
  });
}

/** Push decisions of one group: allowed ones and refusals by reason. */
export interface DecisionCounts {
  sends: number;
  suppressed: Record<string, number>;
}

const NO_COUNTS: GroupCounts = {
  group: null,
  impressions: 0,
  clicks: 0,
  carts: 0,
  purchases: 0,
  units: 0,
  revenue: 0,
  revenueSquares: 0,
};

/**
 * The wire report of push roll-ups and decision counts per group; a group with decisions but no attributed
 * events (or the reverse) is listed with zeros on the other side. Groups are ordered by name, none last.
 */
export function pushReportFrom(
  query: ReportWindow & { groupBy: PushReport['groupBy']; campaign: string | null },
  counts: readonly GroupCounts[],
  decisions: ReadonlyMap<string, DecisionCounts>,
  countedUntilMs: number | null,
): PushReport {
  const byGroup = new Map(counts.map((c) => [c.group, c]));
  const names = [...new Set<string | null>([...byGroup.keys(), ...decisions.keys()])].sort((a, b) =>
    a === null ? 1 : b === null ? -1 : a < b ? -1 : a > b ? 1 : 0,
  );
  const all = names.map((group) => byGroup.get(group) ?? { ...NO_COUNTS, group });
  const summary = summariseGroups(all, query.groupBy !== 'hour');
  return {
    from: new Date(query.fromMs).toISOString(),
    to: new Date(query.toMs).toISOString(),
    groupBy: query.groupBy,
    campaign: query.campaign,
    reference: summary.reference,
    groups: summary.groups.map((g) => {
      const d = g.group === null ? undefined : decisions.get(g.group);
      return { ...g, sends: d?.sends ?? 0, suppressed: d?.suppressed ?? {} };
    }),
    pValue: summary.pValue,
    conversionPValue: summary.conversionPValue,
    countedUntil: countedUntilMs === null ? null : new Date(countedUntilMs).toISOString(),
  };
}
