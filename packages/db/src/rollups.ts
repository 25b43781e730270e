import type { AnswerDimensions } from '@elevens/domain';
import { type Queryable, withQueryTimeout } from './pool';

const HOUR_MS = 3_600_000;

/** Every event before this instant (epoch ms) may have been pruned (`event_prune_cut_off`, which prune records);
 * null: no prune ever ran. */
export async function readPruneCutOff(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ cut_off: Date }>('SELECT cut_off FROM event_prune_cut_off');
  return rows[0]?.cut_off.getTime() ?? null;
}

/**
 * The first hour whose roll-ups the events left by a prune cut off at `cutOffMs` recompute whole, counting with a
 * last-touch window of `windowMs`: the hour holding the cut-off lost its earlier events, and a click, cart or
 * purchase within the window after the cut-off may have been attributed to a touch before it. Their roll-ups,
 * counted before the prune, are whole; recomputed, they would count less, or another answer.
 */
export function firstWholeRollupHour(cutOffMs: number, windowMs: number): number {
  return Math.ceil((cutOffMs + windowMs) / HOUR_MS) * HOUR_MS;
}

/** Counters of one roll-up row. */
export interface RollupCounts {
  events: number;
  impressions: number;
  clicks: number;
  carts: number;
  purchases: number;
  units: number;
  revenue: number;
  revenueSquares: number;
}

/** Where an event was attributed: an answer's dimensions, or nothing ('none'). */
export interface RollupKey {
  hourMs: number;
  kind: AnswerDimensions['kind'] | 'none';
  modelVersion: string;
  placement: string;
  experiment: string;
  arm: string;
  campaign: string;
}

export interface RollupRow extends RollupKey, RollupCounts {}

/** Counters of nothing: a group with no roll-up row. */
export const zeroRollupCounts = (): RollupCounts => ({
  events: 0,
  impressions: 0,
  clicks: 0,
  carts: 0,
  purchases: 0,
  units: 0,
  revenue: 0,
  revenueSquares: 0,
});

/** The counter columns of `attribution_rollups` as a query returns them: the counters, `revenue_sq` named as stored. */
export type RollupCountColumns = Omit<RollupCounts, 'revenueSquares'> & { revenue_sq: number };

/** The counters of a row read with every counter column. */
export const countsOf = (row: RollupCountColumns): RollupCounts => ({
  events: row.events,
  impressions: row.impressions,
  clicks: row.clicks,
  carts: row.carts,
  purchases: row.purchases,
  units: row.units,
  revenue: row.revenue,
  revenueSquares: row.revenue_sq,
});

/** Counts of the events of one hour attributed to answers of one dimension set (null: to none), as summed. */
export interface AnswerCounts extends RollupCounts {
  hourMs: number;
  answer: AnswerDimensions | null;
}

const NONE: Omit<RollupKey, 'hourMs'> = {
  kind: 'none',
  modelVersion: '',
  placement: '',
  experiment: '',
  arm: '',
  campaign: '',
};

/** The roll-up key of an hour's events attributed to an answer with dimensions `d` ('' for none). */
export function rollupKeyOf(hourMs: number, d: AnswerDimensions | null): RollupKey {
  if (d === null) return { hourMs, ...NONE };
  return {
    hourMs,
    kind: d.kind,
    modelVersion: d.modelVersion ?? '',
    placement: d.placement ?? '',
    experiment: d.experiment ?? '',
    arm: d.arm ?? '',
    campaign: d.campaign ?? '',
  };
}

const keyText = (k: RollupKey) =>
  [k.hourMs, k.kind, k.modelVersion, k.placement, k.experiment, k.arm, k.campaign].join('\u0000');

/** Sums per-answer counts into roll-up rows, one per key (an upsert may touch each row once). */
export function foldIntoRollups(counts: Iterable<AnswerCounts>, into = new Map<string, RollupRow>()) {
  for (const c of counts) {
    const key = rollupKeyOf(c.hourMs, c.answer);
    const text = keyText(key);
    const row = into.get(text);
    if (row === undefined) {
      into.set(text, {
        ...key,
        events: c.events,
        impressions: c.impressions,
        clicks: c.clicks,
        carts: c.carts,
        purchases: c.purchases,
        units: c.units,
        revenue: c.revenue,
        revenueSquares: c.revenueSquares,
      });
    } else {
      row.events += c.events;
      row.impressions += c.impressions;
      row.clicks += c.clicks;
      row.carts += c.carts;
      row.purchases += c.purchases;
      row.units += c.units;
      row.revenue += c.revenue;
      row.revenueSquares += c.revenueSquares;
    }
  }
  return into;
}

const UPSERT = `
  INSERT INTO attribution_rollups AS r
    (hour, kind, model_version, placement, experiment, arm, campaign,
     events, impressions, clicks, carts, purchases, units, revenue, revenue_sq)
  SELECT timestamptz 'epoch' + ms * interval '1 millisecond', kind, model_version, placement, experiment, arm,
         campaign, events, impressions, clicks, carts, purchases, units, revenue, revenue_sq
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
              $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
              $14::numeric[], $15::float8[])
       AS t(ms, kind, model_version, placement, experiment, arm, campaign,
            events, impressions, clicks, carts, purchases, units, revenue, revenue_sq)
  ON CONFLICT (hour, kind, model_version, placement, experiment, arm, campaign) DO UPDATE SET
    events = r.events + EXCLUDED.events,
    impressions = r.impressions + EXCLUDED.impressions,
    clicks = r.clicks + EXCLUDED.clicks,
    carts = r.carts + EXCLUDED.carts,
    purchases = r.purchases + EXCLUDED.purchases,
    units = r.units + EXCLUDED.units,
    revenue = r.revenue + EXCLUDED.revenue,
    revenue_sq = r.revenue_sq + EXCLUDED.revenue_sq`;

/** Adds roll-up rows to the stored ones (each key once per call). */
export async function addRollups(
  db: Queryable,
  rows: Iterable<RollupRow>,
  queryTimeoutMs?: number,
): Promise<number> {
  const list = [...rows];
  if (list.length === 0) return 0;
  const column = <T>(pick: (row: RollupRow) => T) => list.map(pick);
  const values = [
    column((r) => r.hourMs),
    column((r) => r.kind),
    column((r) => r.modelVersion),
    column((r) => r.placement),
    column((r) => r.experiment),
    column((r) => r.arm),
    column((r) => r.campaign),
    column((r) => r.events),
    column((r) => r.impressions),
    column((r) => r.clicks),
    column((r) => r.carts),
    column((r) => r.purchases),
    column((r) => r.units),
    column((r) => r.revenue.toFixed(2)),
    column((r) => r.revenueSquares),
  ];
  await db.query(
    queryTimeoutMs === undefined
      ? { text: UPSERT, values }
      : withQueryTimeout(UPSERT, values, queryTimeoutMs),
  );
  return list.length;
}

/** Every stored roll-up row of the hours [fromMs, toMs), for checks and exports. */
export async function readRollups(db: Queryable, fromMs: number, toMs: number): Promise<RollupRow[]> {
  const { rows } = await db.query<
    RollupCountColumns & {
      hour: Date;
      kind: RollupRow['kind'];
      model_version: string;
      placement: string;
      experiment: string;
      arm: string;
      campaign: string;
    }
  >(
    `SELECT * FROM attribution_rollups
     WHERE hour >= to_timestamp($1::double precision / 1000) AND hour < to_timestamp($2::double precision / 1000)
     ORDER BY hour, kind, model_version, placement, experiment, arm, campaign`,
    [fromMs, toMs],
  );
  return rows.map((r) => ({
    hourMs: r.hour.getTime(),
    kind: r.kind,
    modelVersion: r.model_version,
    placement: r.placement,
    experiment: r.experiment,
    arm: r.arm,
    campaign: r.campaign,
    ...countsOf(r),
  }));
}

/** Every event received before this instant is in the roll-ups (null: not even the first batch yet). */
export async function rollupWatermark(db: Queryable): Promise<Date | null> {
  const { rows } = await db.query<{ watermark: Date | number }>('SELECT watermark FROM attribution_state');
  const watermark = rows[0]?.watermark;
  return watermark instanceof Date && Number.isFinite(watermark.getTime()) ? watermark : null;
}
