import {
  campaignAttributionKey,
  type PushReport,
  type PushReportGroup,
  type RecommendationsReport,
  type ReportGroup,
} from '@elevens/domain';
import {
  holmAdjusted,
  homogeneityP,
  isProportion,
  ratioDifferenceP,
  ratioHomogeneityP,
  ratioInterval,
  twoProportionP,
  type UserRatioMoments,
  welchP,
  wilsonInterval,
} from './tests';

/** Σ x_i, Σ x_i² and Σ x_i n_i over a group's users, for one numerator x (clicks, purchases, revenue). */
export interface UserNumeratorMoments {
  sum: number;
  squares: number;
  crossProducts: number;
}

/** A group's counts summed per user, then over its users (n_i: user i's impressions). */
export interface UserMoments {
  /** users with an attributed impression, click or purchase in the window */
  users: number;
  impressions: number;
  impressionSquares: number;
  clicks: UserNumeratorMoments;
  purchases: UserNumeratorMoments;
  revenue: UserNumeratorMoments;
}

/** The moments of one ratio against impressions, as the per-user tests take them. */
const ratioOf = (m: UserMoments, numerator: 'clicks' | 'purchases' | 'revenue'): UserRatioMoments => ({
  users: m.users,
  numerator: m[numerator].sum,
  denominator: m.impressions,
  numeratorSquares: m[numerator].squares,
  denominatorSquares: m.impressionSquares,
  crossProducts: m[numerator].crossProducts,
});

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
  /** the group's per-user moments, where known (an experiment's arms); null: it reached no user */
  users?: UserMoments | null;
}

export interface GroupsSummary {
  /** what the p-values and intervals take as independent samples */
  testedPer: 'user' | 'impression';
  reference: string | null;
  groups: ReportGroup[];
  pValue: number | null;
  conversionPValue: number | null;
}

/** The group the others are compared with: one named `control`, else the first. */
export const referenceGroup = (groups: readonly GroupCounts[]): GroupCounts | undefined =>
  groups.find((g) => g.group === 'control') ?? groups[0];

const rate = (part: number, whole: number) => (whole > 0 ? part / whole : null);

/** What follows from one group's counts per trial (an impression, or a push send). */
interface TrialRates {
  clickRate: number | null;
  clickInterval: [number, number] | null;
  conversionRate: number | null;
  conversionInterval: [number, number] | null;
  revenuePerTrial: number | null;
  pValue: number | null;
  revenuePValue: number | null;
}

interface TrialsSummary {
  reference: GroupCounts | undefined;
  rates: TrialRates[];
  pValue: number | null;
  conversionPValue: number | null;
}

/**
 * Rates, Wilson intervals and tests of each group per trial, `trials[i]` of group i: clicks and purchases per
 * trial, and revenue per trial compared with Welch's test, each trial one sample (a purchase's revenue is its
 * trial's value and every other trial is worth 0). Each group's p-values against the reference are
 * Holm-adjusted over the groups compared (`holmAdjusted`), so a report of many arms finds no more false
 * differences than one of two. A rate whose counts are no proportion (more clicks than trials: clicks whose
 * trials fell before the window, or were never posted) is reported as it is, above 1, without interval or
 * proportion test (`isProportion`). With `compare` false (groups by hour) no test is run.
 */
function summariseTrials(
  counts: readonly GroupCounts[],
  trials: readonly number[],
  compare: boolean,
): TrialsSummary {
  const reference = compare ? referenceGroup(counts) : undefined;
  const r = reference === undefined ? -1 : counts.indexOf(reference);
  const moments = (i: number) => ({
    n: trials[i]!,
    sum: counts[i]!.revenue,
    sumOfSquares: counts[i]!.revenueSquares,
  });
  const againstReference = (test: (i: number) => number | null) =>
    holmAdjusted(counts.map((_, i) => (r === -1 || i === r ? null : test(i))));
  const clickP = againstReference((i) =>
    twoProportionP(counts[i]!.clicks, trials[i]!, counts[r]!.clicks, trials[r]!),
  );
  const revenueP = againstReference((i) => welchP(moments(i), moments(r)));
  return {
    reference,
    rates: counts.map((g, i) => ({
      clickRate: rate(g.clicks, trials[i]!),
      clickInterval: wilsonInterval(g.clicks, trials[i]!),
      conversionRate: rate(g.purchases, trials[i]!),
      conversionInterval: wilsonInterval(g.purchases, trials[i]!),
      revenuePerTrial: rate(g.revenue, trials[i]!),
      pValue: clickP[i] ?? null,
      revenuePValue: revenueP[i] ?? null,
    })),
    pValue: compare
      ? homogeneityP(
          counts.map((g) => g.clicks),
          trials,
        )
      : null,
    conversionPValue: compare
      ? homogeneityP(
          counts.map((g) => g.purchases),
          trials,
        )
      : null,
  };
}

const roundedRevenue = (revenue: number) => Math.round(revenue * 100) / 100;

/**
 * Whether a group's per-user moments count what its roll-ups count: not so for hours rolled up before the
 * per-user roll-ups existed (until `elevens rollups rebuild`), nor for a placement of an experiment that spans
 * several (the per-user roll-ups have no placement).
 */
const usersAgree = (g: GroupCounts): boolean =>
  g.users !== undefined &&
  g.users !== null &&
  g.users.impressions === g.impressions &&
  g.users.clicks.sum === g.clicks &&
  g.users.purchases.sum === g.purchases &&
  Math.abs(g.users.revenue.sum - g.revenue) < 0.005;

/** What a test of the groups per user gives in place of the per-impression intervals and p-values. */
interface UserTests {
  rates: Pick<TrialRates, 'clickInterval' | 'conversionInterval' | 'pValue' | 'revenuePValue'>[];
  pValue: number | null;
  conversionPValue: number | null;
}

/** A delta-method interval of a rate that is a proportion, cut at 1 as it is at 0. */
const proportionInterval = (moments: UserRatioMoments): [number, number] | null => {
  const interval = ratioInterval(moments);
  return interval === null ? null : [interval[0], Math.min(1, interval[1])];
};

/**
 * The groups' tests with the user as the unit (`ratioDifferenceP`, `ratioInterval`, `ratioHomogeneityP`):
 * clicks, purchases and revenue per impression, each user's sums one sample, Holm-adjusted as per impression. A
 * rate that is no proportion has no interval or p-value here either.
 */
function summariseUsers(
  counts: readonly GroupCounts[],
  moments: readonly UserMoments[],
  reference: GroupCounts | undefined,
): UserTests {
  const r = reference === undefined ? -1 : counts.indexOf(reference);
  const proportion = (i: number, key: 'clicks' | 'purchases') =>
    isProportion(counts[i]![key], counts[i]!.impressions);
  const againstReference = (test: (i: number) => number | null) =>
    holmAdjusted(counts.map((_, i) => (r === -1 || i === r ? null : test(i))));
  const clickP = againstReference((i) =>
    proportion(i, 'clicks') && proportion(r, 'clicks')
      ? ratioDifferenceP(ratioOf(moments[i]!, 'clicks'), ratioOf(moments[r]!, 'clicks'))
      : null,
  );
  const revenueP = againstReference((i) =>
    ratioDifferenceP(ratioOf(moments[i]!, 'revenue'), ratioOf(moments[r]!, 'revenue')),
  );
  const homogeneity = (key: 'clicks' | 'purchases') =>
    reference === undefined
      ? null
      : ratioHomogeneityP(counts.flatMap((_, i) => (proportion(i, key) ? [ratioOf(moments[i]!, key)] : [])));
  return {
    rates: counts.map((_, i) => ({
      clickInterval: proportion(i, 'clicks') ? proportionInterval(ratioOf(moments[i]!, 'clicks')) : null,
      conversionInterval: proportion(i, 'purchases')
        ? proportionInterval(ratioOf(moments[i]!, 'purchases'))
        : null,
      pValue: clickP[i] ?? null,
      revenuePValue: revenueP[i] ?? null,
    })),
    pValue: homogeneity('clicks'),
    conversionPValue: homogeneity('purchases'),
  };
}

/**
 * Rates, intervals and tests of each group per impression: CTR is clicks per impression, conversion purchases
 * per impression, revenue per impression. When every group carries per-user moments that agree with its counts
 * (an experiment's arms: users are what it randomises), intervals and p-values take each user as one sample
 * (`summariseUsers`); otherwise each impression (`summariseTrials`: Wilson intervals, two-proportion and
 * Welch's tests), and `testedPer` says which.
 */
export function summariseGroups(counts: readonly GroupCounts[], compare = true): GroupsSummary {
  const summary = summariseTrials(
    counts,
    counts.map((g) => g.impressions),
    compare,
  );
  const perUser =
    counts.length > 0 && counts.every(usersAgree)
      ? summariseUsers(
          counts,
          counts.map((g) => g.users!),
          summary.reference,
        )
      : null;
  const groups = counts.map((g, i): ReportGroup => {
    const rates = summary.rates[i]!;
    const tested = perUser === null ? rates : perUser.rates[i]!;
    return {
      group: g.group,
      users: perUser === null ? null : g.users!.users,
      impressions: g.impressions,
      clicks: g.clicks,
      ctr: rates.clickRate,
      ctrInterval: tested.clickInterval,
      addToCarts: g.carts,
      purchases: g.purchases,
      units: g.units,
      conversionRate: rates.conversionRate,
      conversionInterval: tested.conversionInterval,
      revenue: roundedRevenue(g.revenue),
      revenuePerImpression: rates.revenuePerTrial,
      pValue: tested.pValue,
      revenuePValue: tested.revenuePValue,
    };
  });
  return {
    testedPer: perUser === null ? 'impression' : 'user',
    reference: summary.reference?.group ?? null,
    groups,
    pValue: perUser === null ? summary.pValue : perUser.pValue,
    conversionPValue: perUser === null ? summary.conversionPValue : perUser.conversionPValue,
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
    testedPer: summary.testedPer,
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
 * events (or the reverse) is listed with zeros on the other side. Groups are ordered by name, none last. Rates,
 * intervals and tests are per send (`summariseTrials`): a push is sent, and storefronts seldom post an
 * impression of it, so per impression a campaign's opens would have no base.
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
  const decided = all.map((g) => (g.group === null ? undefined : decisions.get(g.group)));
  const summary = summariseTrials(
    all,
    decided.map((d) => d?.sends ?? 0),
    query.groupBy !== 'hour',
  );
  return {
    from: new Date(query.fromMs).toISOString(),
    to: new Date(query.toMs).toISOString(),
    groupBy: query.groupBy,
    campaign: query.campaign,
    reference: summary.reference?.group ?? null,
    groups: all.map((g, i): PushReportGroup => {
      const rates = summary.rates[i]!;
      return {
        group: g.group,
        sends: decided[i]?.sends ?? 0,
        suppressed: decided[i]?.suppressed ?? {},
        impressions: g.impressions,
        clicks: g.clicks,
        clickRate: rates.clickRate,
        clickInterval: rates.clickInterval,
        addToCarts: g.carts,
        purchases: g.purchases,
        units: g.units,
        conversionRate: rates.conversionRate,
        conversionInterval: rates.conversionInterval,
        revenue: roundedRevenue(g.revenue),
        revenuePerSend: rates.revenuePerTrial,
        pValue: rates.pValue,
        revenuePValue: rates.revenuePValue,
      };
    }),
    pValue: summary.pValue,
    conversionPValue: summary.conversionPValue,
    countedUntil: countedUntilMs === null ? null : new Date(countedUntilMs).toISOString(),
  };
}
