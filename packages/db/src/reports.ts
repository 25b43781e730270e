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
}

/**
 * The roll-ups of the hours starting in [fromMs, toMs), summed per group, ordered by group (null last). Reads
 * only `attribution_rollups` (its primary key starts with the hour), never the events.
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
  const { rows } = await db.query<RollupCountColumns & { grp: string | null }>(
    `SELECT ${GROUP_EXPRESSIONS[query.groupBy]} AS grp,
            sum(events) AS events, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(carts) AS carts,
            sum(purchases) AS purchases, sum(units) AS units, sum(revenue) AS revenue,
            sum(revenue_sq) AS revenue_sq
     FROM attribution_rollups
     WHERE hour >= $1 AND hour < $2 AND kind = ANY($3::text[]) ${filters.join(' ')}
     GROUP BY 1
     ORDER BY 1 NULLS LAST`,
    parameters,
  );
  return rows.map((r) => ({ group: r.grp, ...countsOf(r) }));
}
