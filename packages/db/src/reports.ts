import type { UserMoments } from '@elevens/stats';
import type { Queryable } from './pool';
import { countsOf, type RollupCountColumns, type RollupCounts } from './rollups';

/** Dimensions a report may group the roll-ups by. */
export type RollupGroup = 'arm' | 'hour' | 'modelVersion' | 'placement' | 'experiment' | 'campaign' | 'kind';

/** Roll-up columns per group; '' (a dimension the answer did not have) reads as null. */
const GROUP_EXPRESSIONS: Record<RollupGroup, string> = {
  arm: "NULLIF(arm, '')",
  hour: `to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24":00:00.000Z"')`,
  modelVersion: "NULLIF(model_version, '')",
  placement: "NULLIF(placement, '')",
  experiment: "NULLIF(experiment, '')",
  campaign: "NULLIF(campaign, '')",
  kind: 'kind',
};

export interface RollupQuery {
  fromMs: number;
  toMs: number;
  /** answer kinds counted */
  kinds: readonly ('recommendation' | 'push' | 'unknown' | 'none')[];
  groupBy: RollupGroup;
  experiment?: string;
  placement?: string;
  campaign?: string;
}

export interface RollupGroupCounts extends RollupCounts {
  group: string | null;
  /** groupBy=arm for one experiment: the arm's per-user moments (`attribution_user_rollups`); null: no users */
  users?: UserMoments | null;
}

/**
 * Per arm of `$experiment` (a parameter number), the moments of its users' counts over the hours [$1, $2): each
 * user's counts summed in the inner query, only the arm's sums leave Postgres. The key of
 * `attribution_user_rollups` leads with (experiment, hour), so only the experiment's hours are read.
 */
const armUserMomentsSql = (experiment: number) => `
  SELECT NULLIF(arm, '') AS grp, count(*) AS users,
         sum(n) AS user_impressions, sum(n * n)::float8 AS impression_squares,
         sum(c) AS user_clicks, sum(c * c)::float8 AS click_squares, sum(c * n)::float8 AS click_cross,
         sum(p) AS user_purchases, sum(p * p)::float8 AS purchase_squares, sum(p * n)::float8 AS purchase_cross,
         sum(r)::float8 AS user_revenue, sum(r * r)::float8 AS revenue_squares, sum(r * n)::float8 AS revenue_cross
  FROM (SELECT arm, sum(impressions) AS n, sum(clicks) AS c, sum(purchases) AS p, sum(revenue) AS r
        FROM attribution_user_rollups
        WHERE experiment = $${experiment} AND hour >= $1 AND hour < $2
        GROUP BY arm, user_id) per_user
  GROUP BY 1`;

/** `armUserMomentsSql`'s columns, all null for an arm without users. */
interface ArmUserMomentsColumns {
  users: number | null;
  user_impressions: number;
  impression_squares: number;
  user_clicks: number;
  click_squares: number;
  click_cross: number;
  user_purchases: number;
  purchase_squares: number;
  purchase_cross: number;
  user_revenue: number;
  revenue_squares: number;
  revenue_cross: number;
}

const armUserMomentsOf = (r: ArmUserMomentsColumns): UserMoments | null =>
  r.users === null
    ? null
    : {
        users: r.users,
        impressions: r.user_impressions,
        impressionSquares: r.impression_squares,
        clicks: { sum: r.user_clicks, squares: r.click_squares, crossProducts: r.click_cross },
        purchases: { sum: r.user_purchases, squares: r.purchase_squares, crossProducts: r.purchase_cross },
        revenue: { sum: r.user_revenue, squares: r.revenue_squares, crossProducts: r.revenue_cross },
      };

/**
 * The roll-ups of the hours starting in [fromMs, toMs), summed per group, ordered by group (null last). Reads
 * only `attribution_rollups` (its primary key starts with the hour), never the events. Grouped by arm for one
 * experiment, each group also carries its users' moments (`users`), read in the same statement, so both see
 * the same worker steps.
 */
export async function readRollupGroups(db: Queryable, query: RollupQuery): Promise<RollupGroupCounts[]> {
  const parameters: unknown[] = [new Date(query.fromMs), new Date(query.toMs), [...query.kinds]];
  const filters: string[] = [];
  for (const [column, value] of [
    ['experiment', query.experiment],
    ['placement', query.placement],
    ['campaign', query.campaign],
  ] as const) {
    if (value === undefined) continue;
    parameters.push(value);
    filters.push(`AND ${column} = $${parameters.length}`);
  }
  const grouped = `
    SELECT ${GROUP_EXPRESSIONS[query.groupBy]} AS grp,
           sum(events) AS events, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(carts) AS carts,
           sum(purchases) AS purchases, sum(units) AS units, sum(revenue) AS revenue,
           sum(revenue_sq) AS revenue_sq
    FROM attribution_rollups
    WHERE hour >= $1 AND hour < $2 AND kind = ANY($3::text[]) ${filters.join(' ')}
    GROUP BY 1`;
  if (query.groupBy !== 'arm' || query.experiment === undefined) {
    const { rows } = await db.query<RollupCountColumns & { grp: string | null }>(
      `${grouped} ORDER BY 1 NULLS LAST`,
      parameters,
    );
    return rows.map((r) => ({ group: r.grp, ...countsOf(r) }));
  }
  const { rows } = await db.query<RollupCountColumns & ArmUserMomentsColumns & { grp: string | null }>(
    `SELECT g.*, u.users, u.user_impressions, u.impression_squares, u.user_clicks, u.click_squares,
            u.click_cross, u.user_purchases, u.purchase_squares, u.purchase_cross, u.user_revenue,
            u.revenue_squares, u.revenue_cross
     FROM (${grouped}) g
     LEFT JOIN (${armUserMomentsSql(parameters.indexOf(query.experiment) + 1)}) u
       ON u.grp IS NOT DISTINCT FROM g.grp
     ORDER BY 1 NULLS LAST`,
    parameters,
  );
  return rows.map((r) => ({
    group: r.grp,
    ...countsOf(r),
    users: armUserMomentsOf(r),
  }));
}
