import { writeFileSync } from 'node:fs';
import { baseEnv, loadEnv } from '@elevens/config';
import { type RollupGroupCounts, readRollupGroups, rollupWatermark, zeroRollupCounts } from '@elevens/db';
import type { ReportGroup } from '@elevens/domain';
import { readPushStats } from '@elevens/redis-stores';
import { hoursCovering, pushReportFrom, summariseGroups, withCampaignNames } from '@elevens/stats';
import { z } from 'zod';
import { type BatchInfra, openBatchInfra, requireServices } from '../infra';
import { UserError } from '../run';
import { instantFlag } from './rollups';

const HOUR_MS = 3_600_000;

/** One table row of the report: a group's counts and rates, and its push decisions where there are any. */
export interface CampaignRow
  extends Pick<
    ReportGroup,
    | 'group'
    | 'users'
    | 'impressions'
    | 'clicks'
    | 'ctr'
    | 'ctrInterval'
    | 'addToCarts'
    | 'purchases'
    | 'conversionRate'
    | 'revenue'
    | 'pValue'
  > {
  events: number;
  sends?: number;
  suppressed?: Record<string, number>;
  /** what CTR and conversion count: impressions, or the sends of push campaigns (as /v1/reports/push) */
  per: 'impression' | 'send';
  /**
   * what the interval and p take as one sample: users for an experiment's arms (`summariseGroups`), else what
   * `per` counts
   */
  testedPer: 'user' | 'impression' | 'send';
}

export interface CampaignSection {
  title: string;
  /** what the group column holds */
  groupLabel: string;
  rows: CampaignRow[];
  /** CTR p-value between the rows, where comparing them means something */
  pValue?: number | null;
}

export interface CampaignReport {
  fromMs: number;
  toMs: number;
  countedUntilMs: number | null;
  peak: { hour: string; events: number; purchases: number; revenue: number; hourlyMean: number } | null;
  suppressions: Record<string, number>;
  sections: CampaignSection[];
}

const withEvents = (counts: readonly RollupGroupCounts[], compare: boolean) => {
  const summary = summariseGroups(counts, compare);
  return {
    rows: summary.groups.map(
      (g, i): CampaignRow => ({
        ...g,
        events: counts[i]!.events,
        per: 'impression',
        testedPer: summary.testedPer,
      }),
    ),
    pValue: summary.pValue,
  };
};

/**
 * Everything the post-event report shows, read from the roll-ups and the push decision counters, for the whole
 * UTC hours [from, to) overlaps (the hours the api's reports and push stats count).
 */
export async function campaignReport(
  infra: BatchInfra,
  windowFromMs: number,
  windowToMs: number,
): Promise<CampaignReport> {
  const { fromMs, toMs, firstHour: first, endHour: end } = hoursCovering(windowFromMs, windowToMs);
  const read = (
    groupBy: Parameters<typeof readRollupGroups>[1]['groupBy'],
    kinds: ('recommendation' | 'push' | 'unknown' | 'none')[],
    extra = {},
  ) => readRollupGroups(infra.pool, { fromMs, toMs, groupBy, kinds, ...extra });
  const ALL = ['recommendation', 'push', 'unknown', 'none'] as (
    | 'recommendation'
    | 'push'
    | 'unknown'
    | 'none'
  )[];
  const RECOMMENDATIONS = ['recommendation', 'unknown'] as ('recommendation' | 'unknown')[];
  // The watermark before any count, as the report routes read it: a worker step committing meanwhile adds counts
  // past it, never a claim past the counts.
  const watermark = await rollupWatermark(infra.pool);
  const [byKind, byHour, byVersion, byPlacement, byExperiment, byCampaign, pushByHour] = await Promise.all([
    read('kind', ALL),
    read('hour', ALL),
    read('modelVersion', RECOMMENDATIONS),
    read('placement', RECOMMENDATIONS),
    read('experiment', ['recommendation']),
    read('campaign', ['push']),
    Promise.all(
      Array.from({ length: Math.max(0, end - first) }, (_, i) =>
        readPushStats(infra.redis, infra.keys, first + i, first + i + 1).then((counts) => ({
          hour: new Date((first + i) * HOUR_MS).toISOString(),
          counts,
        })),
      ),
    ),
  ]);
  const arms = await Promise.all(
    byExperiment
      .filter((e) => e.group !== null)
      .map(async (e) => ({
        experiment: e.group!,
        arms: await read('arm', ['recommendation'], { experiment: e.group }),
      })),
  );

  const suppressions: Record<string, number> = {};
  const decisionsByHour = new Map<string, { sends: number; suppressed: Record<string, number> }>();
  const decisionsByCampaign = new Map<string, { sends: number; suppressed: Record<string, number> }>();
  for (const { hour, counts } of pushByHour)
    for (const count of counts) {
      for (const [map, key] of [
        [decisionsByHour, hour],
        [decisionsByCampaign, count.campaignId],
      ] as const) {
        const entry = map.get(key) ?? { sends: 0, suppressed: {} };
        if (count.reason === 'ok') entry.sends += count.count;
        // Allowed, then released by the sender: not sent after all, and no suppression either.
        else if (count.reason === 'released') entry.sends -= count.count;
        else entry.suppressed[count.reason] = (entry.suppressed[count.reason] ?? 0) + count.count;
        map.set(key, entry);
      }
      if (count.reason !== 'ok' && count.reason !== 'released')
        suppressions[count.reason] = (suppressions[count.reason] ?? 0) + count.count;
    }

  // An hour with push decisions but no events yet is listed too, so the hours' sends add up to the campaigns'.
  const eventHours = new Set(byHour.map((h) => h.group));
  const hourCounts = [
    ...byHour,
    ...[...decisionsByHour.keys()]
      .filter((hour) => !eventHours.has(hour))
      .map((group) => ({ group, ...zeroRollupCounts() })),
  ].sort((a, b) => ((a.group ?? '') < (b.group ?? '') ? -1 : 1));
  const hours = withEvents(hourCounts, false).rows.map((row) => ({
    ...row,
    ...(decisionsByHour.get(row.group ?? '') ?? {}),
  }));
  const attributedByCampaign = withCampaignNames(byCampaign, decisionsByCampaign.keys());
  const campaigns = pushReportFrom(
    { fromMs, toMs, groupBy: 'campaign', campaign: null },
    attributedByCampaign,
    decisionsByCampaign,
    null,
  );
  const campaignRows = campaigns.groups.map(
    (g): CampaignRow => ({
      ...g,
      users: null,
      events: attributedByCampaign.find((c) => c.group === g.group)?.events ?? 0,
      ctr: g.clickRate,
      ctrInterval: g.clickInterval,
      per: 'send',
      testedPer: 'send',
    }),
  );
  const peakRow = byHour.reduce<RollupGroupCounts | null>(
    (best, h) => (best === null || h.events > best.events ? h : best),
    null,
  );
  const totalEvents = byHour.reduce((sum, h) => sum + h.events, 0);
  return {
    fromMs,
    toMs,
    countedUntilMs: watermark?.getTime() ?? null,
    peak:
      peakRow === null
        ? null
        : {
            hour: peakRow.group ?? '',
            events: peakRow.events,
            purchases: peakRow.purchases,
            revenue: peakRow.revenue,
            hourlyMean: totalEvents / Math.max(1, end - first),
          },
    suppressions,
    sections: [
      { title: 'Events by attribution', groupLabel: 'attributed to', ...withEvents(byKind, false) },
      {
        title: 'Recommendations by model version',
        groupLabel: 'model version',
        ...withEvents(byVersion, true),
      },
      { title: 'Recommendations by placement', groupLabel: 'placement', ...withEvents(byPlacement, true) },
      ...arms.map(({ experiment, arms: counts }) => ({
        title: `Experiment ${experiment} by arm`,
        groupLabel: 'arm',
        ...withEvents(counts, true),
      })),
      {
        title: 'Push campaigns',
        groupLabel: 'campaign',
        pValue: campaigns.pValue,
        rows: campaignRows,
      },
      { title: 'Per hour (UTC)', groupLabel: 'hour', rows: hours },
    ],
  };
}

const percent = (rate: number | null) => (rate === null ? '' : `${(rate * 100).toFixed(2)} %`);
const interval = (range: [number, number] | null) =>
  range === null ? '' : `${(range[0] * 100).toFixed(2)}–${(range[1] * 100).toFixed(2)} %`;
const money = (value: number) => value.toFixed(2);
const pValueText = (p: number | null | undefined) =>
  p === null || p === undefined ? '' : p < 0.0001 ? '< 0.0001' : p.toFixed(4);
const reasons = (suppressed: Record<string, number> | undefined) =>
  Object.entries(suppressed ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([reason, count]) => `${reason} ${count}`)
    .join(', ');

const COLUMNS: [string, (row: CampaignRow) => string][] = [
  ['events', (r) => String(r.events)],
  ['users', (r) => (r.users === null ? '' : String(r.users))],
  ['impressions', (r) => String(r.impressions)],
  ['clicks', (r) => String(r.clicks)],
  ['CTR', (r) => percent(r.ctr)],
  ['CTR 95 %', (r) => interval(r.ctrInterval)],
  ['carts', (r) => String(r.addToCarts)],
  ['purchases', (r) => String(r.purchases)],
  ['conversion', (r) => percent(r.conversionRate)],
  ['revenue', (r) => money(r.revenue)],
  ['p (CTR)', (r) => pValueText(r.pValue)],
  ['push sends', (r) => (r.sends === undefined ? '' : String(r.sends))],
  ['suppressed', (r) => reasons(r.suppressed)],
  ['per', (r) => r.per],
  ['tested per', (r) => r.testedPer],
];

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The report as Markdown: a summary, then one table per section. */
export function campaignMarkdown(report: CampaignReport): string {
  const iso = (ms: number) => new Date(ms).toISOString();
  const lines = [
    `# Campaign report ${iso(report.fromMs)} – ${iso(report.toMs)}`,
    '',
    `Roll-ups hold the events received before ${report.countedUntilMs === null ? '(none yet)' : iso(report.countedUntilMs)}.`,
    'CTR is clicks and conversion purchases per impression, or per send for push campaigns (column per);',
    'intervals are 95 %, none where clicks or purchases exceed what they are counted per; p compares each row',
    "with the control (the row named control, else the first). Column tested per: user (an experiment's arms:",
    "each user's sums one sample, delta method; users counts them), else Wilson and the two-proportion z-test.",
    '',
  ];
  // The peak hour holds an event, so the mean is above 0; a floor at 1 would understate a quiet window's peak.
  if (report.peak !== null)
    lines.push(
      `**Peak hour:** ${report.peak.hour}: ${report.peak.events} events ` +
        `(${(report.peak.events / report.peak.hourlyMean).toFixed(1)}× the hourly mean), ` +
        `${report.peak.purchases} purchases, revenue ${money(report.peak.revenue)}.`,
      '',
    );
  lines.push(`**Push suppressions:** ${reasons(report.suppressions) || 'none'}.`, '');
  for (const section of report.sections) {
    lines.push(`## ${section.title}`, '');
    if (section.rows.length === 0) {
      lines.push('No events.', '');
      continue;
    }
    lines.push(`| ${[section.groupLabel, ...COLUMNS.map(([name]) => name)].join(' | ')} |`);
    lines.push(`|${' --- |'.repeat(COLUMNS.length + 1)}`);
    for (const row of section.rows)
      lines.push(
        `| ${[row.group ?? '(none)', ...COLUMNS.map(([, value]) => value(row))].map(cell).join(' | ')} |`,
      );
    if (section.pValue !== undefined && section.pValue !== null)
      lines.push(
        '',
        section.rows[0]?.testedPer === 'user'
          ? `CTR differs between the rows with p = ${pValueText(section.pValue)} (per user: Wald χ² test, or the t-test for two rows).`
          : `CTR differs between the rows with p = ${pValueText(section.pValue)} (χ² test, or Fisher's exact test for two rows with small counts).`,
      );
    lines.push('');
  }
  return lines.join('\n');
}

const csvField = (text: string) => (/[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);

/** The report as one CSV table: a section and a group column before the figures. */
export function campaignCsv(report: CampaignReport): string {
  const header = ['section', 'group', ...COLUMNS.map(([name]) => name)];
  const rows = report.sections.flatMap((section) =>
    section.rows.map((row) => [section.title, row.group ?? '', ...COLUMNS.map(([, value]) => value(row))]),
  );
  return `${[header, ...rows].map((fields) => fields.map(csvField).join(',')).join('\n')}\n`;
}

/** Writes the report to `--out`; a path that cannot be written is the operator's to fix, named in one line. */
function writeReport(file: string, text: string) {
  try {
    writeFileSync(file, text);
  } catch (error) {
    throw new UserError(`--out: cannot write the report to ${file}: ${(error as Error).message}`);
  }
}

/** `elevens report campaign`. */
export async function reportCampaignCommand(flags: {
  from: string;
  to: string;
  format: string;
  out?: string;
}) {
  const fromMs = instantFlag('--from', flags.from);
  const toMs = instantFlag('--to', flags.to);
  if (toMs <= fromMs) throw new UserError('--to must be after --from');
  if (toMs - fromMs > 367 * 86_400_000) throw new UserError('the window may span at most 367 days');
  if (flags.format !== 'md' && flags.format !== 'csv') throw new UserError('--format: md or csv');
  const config = loadEnv(z.object(baseEnv), process.env, 'report campaign');
  await requireServices(config);
  const infra = openBatchInfra(config);
  try {
    const data = await campaignReport(infra, fromMs, toMs);
    const text = flags.format === 'csv' ? campaignCsv(data) : campaignMarkdown(data);
    if (flags.out === undefined) process.stdout.write(text);
    else writeReport(flags.out, text);
  } finally {
    await infra.close();
  }
}
